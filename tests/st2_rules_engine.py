"""StackStorm's rules engine, as far as the pack's rules use it, for tests without StackStorm.

- ``validate_criteria``: what st2's registrar refuses (st2common/st2common/validators/api/reactor.py
  ``validate_criteria``), so a rule `st2 pack install` would refuse cannot pass a test;
- ``rule_matches``/``matching_rules``: criteria evaluated with st2's semantics for the operators the
  rules use (st2common/st2common/operators.py: ``equals`` is false for a None pattern; ``exists``
  means "is not None"; st2reactor/st2reactor/rules/filter.py looks the key up in the payload);
- ``render_action_parameters``: the rule's action parameters as the rules engine renders them
  (st2common/st2common/util/param.py ``render_live_params``: a string parameter is a Jinja template
  rendered to *text* in a sandboxed environment with undefined names an error, then cast to the
  action parameter's type by st2common/st2common/util/casts.py (tests/st2_params.py ``cast``: an
  ``object`` from JSON, else from a Python literal) -- so ``"{{ trigger }}"`` becomes the
  payload's ``repr`` read back).
"""

import glob
import os

import jinja2
import jinja2.sandbox
import yaml

from tests.st2_params import cast, load_action

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE_FILES = sorted(glob.glob(os.path.join(PACK_DIR, "rules", "*.yaml")))
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
    return {rule["name"]: rule for rule in map(load_yaml, RULE_FILES)}


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
    """The rule's action parameters as the rules engine passes them to the action."""
    pack, name = rule["action"]["ref"].split(".", 1)
    meta = load_action(name)
    assert pack == meta["pack"]
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined,
                                              trim_blocks=True, lstrip_blocks=True)
    rendered = {}
    for key, value in (rule["action"].get("parameters") or {}).items():
        if isinstance(value, str):
            value = env.from_string(value).render(trigger=payload)
        rendered[key] = cast(value, (meta.get("parameters") or {}).get(key))
    return rendered
