"""Rules: they reference real trigger types, actions and payload fields, and route each kind of
custom-resource event to exactly the workflow it should (status-only changes to none).

The rules are evaluated by tests/st2_rules_engine.py, which follows StackStorm's registrar,
criteria operators and parameter rendering.
"""

import json
import os

import jinja2
import pytest
from hypothesis import given, settings, strategies as st

from tests.st2_rules_engine import (BUILTIN_TRIGGERS, OPERATORS, PACK_DIR, CriteriaError,
                                    load_yaml, matching_rules, render_action_parameters,
                                    rule_matches, rules, trigger_types, validate_criteria)

FIXTURES = os.path.join(PACK_DIR, "tests", "fixtures", "workflows")


def _payload(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def test_every_rule_is_well_formed():
    assert sorted(rules()) == [
        "consul_sync", "database_create", "database_delete", "database_delete_on_add",
        "database_resync", "database_retry", "database_update", "reconcile_databases",
    ]
    triggers = trigger_types()
    for name, rule in rules().items():
        assert rule["pack"] == "aws", name
        assert rule.get("enabled") is True, name
        assert rule.get("description"), name
        trigger = rule["trigger"]["type"]
        assert trigger in triggers or trigger in BUILTIN_TRIGGERS, (name, trigger)
        if trigger in BUILTIN_TRIGGERS:
            assert set(rule["trigger"].get("parameters") or {}) <= BUILTIN_TRIGGERS[trigger]
        # Criteria pass st2's registrar, name payload fields of the trigger type and use
        # operators this file can evaluate.
        validate_criteria(rule.get("criteria") or {})
        for key, criterion in (rule.get("criteria") or {}).items():
            field = key.split(".")[1]
            assert field in triggers[trigger]["payload_schema"]["properties"], (name, key)
            assert criterion["type"] in OPERATORS, (name, criterion)
        # The action exists and gets exactly the parameters it takes (required ones included).
        pack, action = rule["action"]["ref"].split(".", 1)
        assert pack == "aws"
        meta = load_yaml(os.path.join(PACK_DIR, "actions", action + ".yaml"))
        given = set(rule["action"].get("parameters") or {})
        known = set(meta.get("parameters") or {})
        required = {k for k, v in (meta.get("parameters") or {}).items() if v.get("required")}
        assert given <= known, (name, given - known)
        assert required <= given, (name, required - given)
        for value in (rule["action"].get("parameters") or {}).values():
            jinja2.Environment().parse(value)


def test_interval_timer_runs_reconcile_every_15_minutes():
    rule = rules()["reconcile_databases"]
    assert rule["trigger"] == {"type": "core.st2.IntervalTimer",
                               "parameters": {"unit": "minutes", "delta": 15}}
    assert rule["action"] == {"ref": "aws.reconcile_databases", "parameters": {}}


def test_interval_timers_run_the_full_resync_and_the_retries():
    """The full resync at most every 10 minutes (the issue's bound), retries every minute; the
    two looks of aws.database_resync never pick the same Database (tests/test_lib_resync.py)."""
    full, retry = rules()["database_resync"], rules()["database_retry"]
    assert full["trigger"] == {"type": "core.st2.IntervalTimer",
                               "parameters": {"unit": "minutes", "delta": 5}}
    assert full["action"] == {"ref": "aws.database_resync", "parameters": {"full": True}}
    assert retry["trigger"] == {"type": "core.st2.IntervalTimer",
                                "parameters": {"unit": "minutes", "delta": 1}}
    assert retry["action"] == {"ref": "aws.database_resync", "parameters": {"full": False}}


@pytest.mark.parametrize("trigger, changes, expected", [
    ("aws.custom_resource_added", {}, ["database_create"]),
    ("aws.custom_resource_added",
     {"deletion_timestamp": "2026-01-02T03:04:05Z", "deletion_requested": True},
     ["database_delete_on_add"]),
    ("aws.custom_resource_modified", {"event": "MODIFIED", "generation": 2}, ["database_update"]),
    # Status written by the pack itself: generation unchanged, so spec_changed is false.
    ("aws.custom_resource_modified", {"event": "MODIFIED", "spec_changed": False,
                                      "status": {"phase": "Ready"}}, []),
    ("aws.custom_resource_modified",
     {"event": "MODIFIED", "spec_changed": False, "deletion_requested": True,
      "deletion_timestamp": "2026-01-02T03:04:05Z"}, ["database_delete"]),
    # Later changes of an object already being deleted (e.g. status Deleting) start nothing.
    ("aws.custom_resource_modified",
     {"event": "MODIFIED", "spec_changed": False, "deletion_requested": False,
      "deletion_timestamp": "2026-01-02T03:04:05Z"}, []),
    # A spec change to an object being deleted is not an update.
    ("aws.custom_resource_modified",
     {"event": "MODIFIED", "spec_changed": True, "deletion_requested": False,
      "deletion_timestamp": "2026-01-02T03:04:05Z"}, []),
    # Deleting an object with a finalizer also bumps its generation: still only a delete.
    ("aws.custom_resource_modified",
     {"event": "MODIFIED", "generation": 2, "spec_changed": True, "deletion_requested": True,
      "deletion_timestamp": "2026-01-02T03:04:05Z"}, ["database_delete"]),
    ("aws.custom_resource_deleted", {"event": "DELETED"}, []),
    # Other kinds the sensor watches (the legacy MysqlDb) are not Databases.
    ("aws.custom_resource_added", {"group": "stackstorm.com", "version": "v1",
                                   "plural": "mysqldbs", "kind": "MysqlDb"}, []),
])
def test_routing(trigger, changes, expected):
    payload = _payload("trigger_added.json")
    payload.update(changes)
    assert matching_rules(trigger, payload) == expected


def test_action_parameters_carry_the_whole_payload():
    payload = _payload("trigger_added.json")
    rendered = render_action_parameters(rules()["database_create"], payload)
    assert rendered == {"resource": payload}


def test_rendered_parameters_are_cast_to_every_type_the_action_declares():
    """Text rendered from each template is cast by the action parameter's type (st2's casts:
    array, boolean and number here), so aws.consul_sync gets what its metadata declares."""
    with open(os.path.join(PACK_DIR, "tests", "fixtures", "consul",
                           "trigger_consul_kv_changed.json"), encoding="utf-8") as handle:
        payload = json.load(handle)
    assert render_action_parameters(rules()["consul_sync"], payload) == {
        "source": "", "target": "green", "prefix": "apps/",
        "keys": ["apps/shop/db", "apps/shop/flags"], "delete_extra": False,
        "observed_at": 1764460800.123, "changed_after": 1764460800.012}
    payload.update(full_resync=True, observed_at=0, changed_after=0)
    rendered = render_action_parameters(rules()["consul_sync"], payload)
    assert (rendered["delete_extra"], rendered["observed_at"], rendered["changed_after"]) == (
        True, 0.0, 0.0)
    assert isinstance(rendered["observed_at"], float)
    assert isinstance(rendered["changed_after"], float)


def test_evaluator_follows_st2_semantics():
    rule = {"trigger": {"type": "t"}, "criteria": {
        "trigger.a": {"type": "equals", "pattern": False},
        "trigger.b.c": {"type": "nexists", "pattern": ""}}}
    assert rule_matches(rule, "t", {"a": False, "b": {"c": None}})
    assert not rule_matches(rule, "t", {"a": None, "b": {}})
    assert not rule_matches(rule, "t", {"a": False, "b": {"c": "x"}})
    assert not rule_matches(rule, "u", {"a": False, "b": {}})


@pytest.mark.parametrize("criterion, message", [
    ({"type": "nexists"}, "no pattern specified for operator nexists"),
    ({"type": "equals", "pattern": None}, "no pattern specified for operator equals"),
    ({"pattern": "x"}, "Operator not specified"),
    ({"type": "isnull", "pattern": "x"}, "operator isnull not in list"),
])
def test_criteria_st2_refuses_are_refused(criterion, message):
    """Each of these fails `st2 pack install` (registration with fail-on-failure)."""
    rule = {"trigger": {"type": "t"}, "criteria": {"trigger.a": criterion}}
    with pytest.raises(CriteriaError, match=message):
        rule_matches(rule, "t", {"a": None})


# Text the API server accepts in labels, annotations and legacy fields reaches the payload as is.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | _TEXT,
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(labels=st.dictionaries(_TEXT, _TEXT, max_size=5), extra=_JSON)
def test_the_payload_reaches_the_workflow_unchanged_through_st2_rendering(labels, extra):
    """"{{ trigger }}" is rendered to text and read back (tests/st2_rules_engine.py): quotes,
    backslashes, braces, newlines and non-ASCII in any field come back as they were sent."""
    payload = _payload("trigger_added.json")
    payload["labels"] = labels
    payload["annotations"] = {"note": "{{ trigger }} {% raw %}'\"\n"}
    payload["spec"]["legacy"] = extra
    assert render_action_parameters(rules()["database_create"], payload) == {
        "resource": json.loads(json.dumps(payload))}
