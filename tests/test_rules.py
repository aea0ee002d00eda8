"""Rules: they reference real trigger types, actions and payload fields, and route each kind of
custom-resource event to exactly the workflow it should (status-only changes to none).

``rule_matches`` is a tiny test-only evaluator of st2 rule criteria for the operators the rules
use -- ``equals`` and ``nexists`` (``exists`` and ``nequals`` too) -- with st2's semantics
(st2common/operators.py: equals is false for a None pattern; exists means "is not None").
It first checks each criterion as st2's registrar does (``validate_criteria``), so a rule that
`st2 pack install` would refuse cannot pass here.
"""

import copy
import glob
import json
import os

import jinja2
import pytest
import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE_FILES = sorted(glob.glob(os.path.join(PACK_DIR, "rules", "*.yaml")))
FIXTURES = os.path.join(PACK_DIR, "tests", "fixtures", "workflows")
BUILTIN_TRIGGERS = {"core.st2.IntervalTimer": {"unit", "delta"}}
# The operator names st2 knows (st2common/st2common/operators.py, get_allowed_operators()).
ST2_OPERATORS = {
    "matchwildcard", "matchregex", "regex", "iregex", "eq", "equals", "nequals", "neq", "ieq",
    "iequals", "contains", "icontains", "ncontains", "incontains", "startswith", "istartswith",
    "endswith", "iendswith", "lt", "lessthan", "gt", "greaterthan", "td_lt", "timediff_lt",
    "td_gt", "timediff_gt", "exists", "nexists", "inside", "in", "ninside", "nin", "search",
}
OPERATORS = {
    "equals": lambda value, pattern: pattern is not None and value == pattern,
    "nequals": lambda value, pattern: value != pattern,
    "exists": lambda value, pattern: value is not None,
    "nexists": lambda value, pattern: value is None,
}


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def rules():
    return {load_yaml(path)["name"]: load_yaml(path) for path in RULE_FILES}


def trigger_types():
    found = {}
    for path in glob.glob(os.path.join(PACK_DIR, "triggers", "*.yaml")):
        data = load_yaml(path)
        found["%s.%s" % (data["pack"], data["name"])] = data
    return found


def _lookup(payload, dotted):
    value = payload
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class CriteriaError(ValueError):
    """What st2's registrar says of a criterion it refuses."""


def validate_criteria(criteria):
    """Refuse criteria as st2 does when it registers a rule (`st2 pack install`, `st2ctl reload`):
    st2common/st2common/validators/api/reactor.py ``validate_criteria`` wants a dict, an operator
    st2 knows in each criterion's ``type`` and a ``pattern`` that is not null for every operator,
    ``exists``/``nexists`` included (they ignore its value)."""
    if not isinstance(criteria, dict):
        raise CriteriaError("Criteria should be a dict.")
    for key, value in criteria.items():
        operator = value.get("type")
        if operator is None:
            raise CriteriaError("Operator not specified for field: " + key)
        if operator not in ST2_OPERATORS:
            raise CriteriaError("For field: %s, operator %s not in list of allowed operators"
                                % (key, operator))
        if value.get("pattern") is None:
            raise CriteriaError("For field: %s, no pattern specified for operator %s"
                                % (key, operator))


def rule_matches(rule, trigger_ref, payload):
    """Whether st2 would fire ``rule`` for a ``trigger_ref`` trigger carrying ``payload``."""
    validate_criteria(rule.get("criteria") or {})
    if rule["trigger"]["type"] != trigger_ref or not rule.get("enabled", True):
        return False
    for key, criterion in (rule.get("criteria") or {}).items():
        assert key.startswith("trigger."), key
        operator = OPERATORS[criterion["type"]]
        if not operator(_lookup(payload, key[len("trigger."):]), criterion.get("pattern")):
            return False
    return True


def matching_rules(trigger_ref, payload):
    """Names of the rules that fire for this trigger."""
    return sorted(name for name, rule in rules().items()
                  if rule_matches(rule, trigger_ref, payload))


def render_action_parameters(rule, payload):
    """The rule's action parameters as st2 renders them: a value that is exactly one Jinja
    expression keeps the type of what it evaluates to (here ``{{ trigger }}`` -> the payload)."""
    rendered = {}
    for key, value in (rule["action"].get("parameters") or {}).items():
        if value == "{{ trigger }}":
            rendered[key] = copy.deepcopy(payload)
        else:
            rendered[key] = jinja2.Environment().from_string(value).render(trigger=payload)
    return rendered


def _payload(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def test_every_rule_is_well_formed():
    assert sorted(rules()) == [
        "consul_sync", "database_create", "database_delete", "database_delete_on_add",
        "database_update", "reconcile_databases",
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
