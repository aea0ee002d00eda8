"""The pack's metadata through StackStorm's own validators, when StackStorm is importable.

`st2ctl reload` / `st2 pack install` register a pack with st2common's API models: pack.yaml with
PackAPI, config.schema.yaml with ConfigSchemaAPI, each action with ActionAPI and the action
validator (runner parameter overrides, positions), trigger types with TriggerTypeAPI and rules
with RuleAPI. A sensor's dispatch checks each payload against its trigger type's payload_schema
with st2's own JSON-schema dialect (draft 4, but `required: true` on each property), and drops
the trigger when the schema is invalid. These tests run exactly those checks; StackStorm is not on
a registry here, so they skip unless st2common is importable (e.g. in StackStorm's virtualenv).
"""

import glob
import json
import os

import pytest
import yaml

pytest.importorskip("st2common.models.api.action")
from st2common.models.api.action import ActionAPI  # noqa: E402
from st2common.models.api.pack import ConfigSchemaAPI, PackAPI  # noqa: E402
from st2common.models.api.rule import RuleAPI  # noqa: E402
from st2common.models.api.trigger import TriggerTypeAPI  # noqa: E402
from st2common.util import schema as util_schema  # noqa: E402
from st2common.util.pack import validate_config_against_schema  # noqa: E402

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(relpath):
    with open(os.path.join(PACK_DIR, relpath), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def pack_files(pattern):
    return sorted(os.path.relpath(p, PACK_DIR) for p in glob.glob(os.path.join(PACK_DIR, pattern)))


def st2_validate(instance, schema):
    """What st2 does with a trigger payload or action parameters (checks the schema first)."""
    return util_schema.validate(instance=instance, schema=schema, cls=util_schema.CustomValidator,
                                use_default=True, allow_default_none=True)


def test_pack_yaml():
    PackAPI(**load("pack.yaml")).validate()


def test_config_schema():
    ConfigSchemaAPI(pack="aws", attributes=load("config.schema.yaml")).validate()


def test_example_config_against_the_schema():
    """st2 refuses `| decrypt_kv` on `secret: true` keys: it decrypts those itself."""
    validate_config_against_schema(load("config.schema.yaml"), load("aws.yaml.example"),
                                   "aws.yaml.example", "aws")


@pytest.mark.parametrize("relpath", pack_files("actions/*.yaml"))
def test_action_metadata(relpath):
    ActionAPI(**load(relpath)).validate()


# An example payload of each trigger type, and a required field to take out of it.
PAYLOADS = {
    "custom_resource_": ("tests/fixtures/workflows/trigger_added.json", "uid"),
    "consul_kv_changed": ("tests/fixtures/consul/trigger_consul_kv_changed.json", "changed_keys"),
}


@pytest.mark.parametrize("relpath", pack_files("triggers/*.yaml"))
def test_trigger_type_and_payload_schema(relpath):
    trigger = load(relpath)
    TriggerTypeAPI(**trigger).validate()
    [(fixture, required)] = [v for k, v in PAYLOADS.items() if trigger["name"].startswith(k)]
    with open(os.path.join(PACK_DIR, fixture)) as handle:
        payload = json.load(handle)
    if "event" in trigger["payload_schema"]["properties"]:
        payload["event"] = trigger["payload_schema"]["properties"]["event"]["enum"][0]
    st2_validate(payload, trigger["payload_schema"])
    del payload[required]
    with pytest.raises(Exception, match="'%s' is a required property" % required):
        st2_validate(payload, trigger["payload_schema"])


@pytest.mark.parametrize("relpath", pack_files("rules/*.yaml"))
def test_rule(relpath):
    """RuleAPI.validate() checks the shape only; registration (RuleAPI.to_model) also runs
    validate_criteria, which refuses a criterion without a pattern."""
    from st2common.validators.api.reactor import validate_criteria

    rule = load(relpath)
    RuleAPI(**rule).validate()
    validate_criteria(rule.get("criteria") or {})
