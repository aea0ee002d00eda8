"""The pack's metadata: pack.yaml, the config schema and the shipped example config."""

import os
import re
import struct

import jsonschema
import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    with open(os.path.join(PACK_DIR, name)) as f:
        return yaml.safe_load(f)


def st2_schema_to_jsonschema(properties, additional=False):
    """StackStorm's config schema is a map of properties with a per-property `required` (also
    inside nested objects, e.g. the items of watch_resources); this is the same in draft 4."""
    props, required = {}, []
    for name, spec in properties.items():
        spec = dict(spec)
        if spec.pop("required", False):
            required.append(name)
        spec.pop("secret", None)
        for sub in (spec, spec.get("items")):
            if isinstance(sub, dict) and "properties" in sub:
                nested = st2_schema_to_jsonschema(sub["properties"],
                                                  sub.get("additionalProperties", True))
                sub.update(properties=nested["properties"], required=nested["required"])
                if not sub["required"]:
                    del sub["required"]
        props[name] = spec
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": additional}


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
    schema = st2_schema_to_jsonschema(load("config.schema.yaml"))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.validate(load("aws.yaml.example"), schema)


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


def test_icon_is_a_64x64_png():
    with open(os.path.join(PACK_DIR, "icon.png"), "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (64, 64)
