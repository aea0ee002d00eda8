"""The pack's metadata: pack.yaml, the config schema and the shipped example config."""

import os
import re
import struct

import yaml

from lib.st2_schema import validate

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    with open(os.path.join(PACK_DIR, name)) as f:
        return yaml.safe_load(f)


def test_pack_yaml_fields():
    pack = load("pack.yaml")
    assert pack["ref"] == "aws"
    assert re.match(r"^\d+\.\d+\.\d+$", pack["version"])
    assert pack["python_versions"] == ["3"]
    for key in ("name", "description", "author", "email", "keywords", "stackstorm_version"):
        assert pack[key], key


def test_changes_md_names_the_pack_version():
    with open(os.path.join(PACK_DIR, "CHANGES.md")) as f:
        first = next(line for line in f if line.startswith("## "))
    assert first.strip() == "## %s" % load("pack.yaml")["version"]


def test_example_config_validates_against_schema():
    """In StackStorm's dialect (lib/st2_schema.py: `required: true` on each property, nested
    ones included), as st2 validates a pack config; no key the schema does not declare."""
    schema = {"type": "object", "properties": load("config.schema.yaml"),
              "additionalProperties": False}
    validate(load("aws.yaml.example"), schema)


def test_every_config_key_has_type_and_description():
    for name, spec in load("config.schema.yaml").items():
        assert spec.get("type"), name
        assert spec.get("description"), name
        assert "required" in spec or "default" in spec or spec.get("required") is False, name


def test_secret_config_keys_are_marked_secret():
    schema = load("config.schema.yaml")
    for name in ("aws_access_key_id", "aws_secret_access_key", "kube_token", "vault_token",
                 "consul_token"):
        assert schema[name].get("secret") is True, name


def test_secret_config_values_are_encrypted_datastore_references():
    """How StackStorm reads a `secret: true` config key (st2common/st2common/util/config_loader.py
    ``_get_datastore_value_for_expression``): it renders the Jinja expression and *decrypts* the
    result, so the datastore key must have been set with --encrypt; `| decrypt_kv` on such a key
    is refused at registration (st2common/st2common/util/pack.py
    ``validate_config_against_schema``). A clear-text secret in the config is exposed to anyone
    who can read the config through the API."""
    schema, example = load("config.schema.yaml"), load("aws.yaml.example")
    secret_keys = sorted(k for k, v in schema.items() if v.get("secret"))
    assert secret_keys
    for key in secret_keys:
        if key not in example:
            continue
        assert re.fullmatch(r"\{\{ *st2kv\.system\.[A-Za-z0-9_.-]+ *\}\}", example[key]), (
            "aws.yaml.example %s: expected a {{ st2kv.system.<name> }} reference, got %r"
            % (key, example[key]))
    for key, value in example.items():
        if isinstance(value, str) and "decrypt_kv" in value:
            assert not schema.get(key, {}).get("secret"), (
                "%s: st2 decrypts secret keys itself and refuses | decrypt_kv on them" % key)
    with open(os.path.join(PACK_DIR, "docs", "install.md"), encoding="utf-8") as handle:
        install = handle.read()
    for key in secret_keys:
        if key in example:
            assert re.search(r"st2 key set %s .*--encrypt" % key, install), (
                "docs/install.md must say to store %s with --encrypt" % key)


def test_icon_is_a_64x64_png():
    with open(os.path.join(PACK_DIR, "icon.png"), "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (64, 64)
