"""Every action's metadata (actions/*.yaml) follows StackStorm's rules and the pack's style.

The checks run over whatever actions exist, so they check new actions as they land. Each problem
is reported as one sentence naming the file, the parameter and what was expected.

Parameter rule (stated here and, for users, in the legend above the README's actions tables):
every parameter has a ``type``, a one-line ``description``, and says what happens when
it is not given: ``required: true``, a ``default``, or an explicit ``required: false``. StackStorm
passes every declared parameter to ``run()``, ``None`` when it has neither a value nor a default,
and the web UI draws an empty field for it; so ``required: false`` without a default is a
deliberate "optional, None when absent". A default of ``""`` is only right for strings where empty
means "use the pack config" (the web UI then shows an empty field too); never as a stand-in for
integer/object parameters.
"""

import glob
import importlib.util
import inspect
import os

import jsonschema
import pytest
import yaml

from lib.action import BaseAction
from lib.st2_schema import output_schema_problem

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER_TYPES = ("python-script", "orquesta")
JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
# Runner parameters of StackStorm v3.9.0 (contrib/runners/*/runner.yaml). An action parameter
# with one of these names overrides the runner's parameter: st2 gives its value to the runner, not
# to run(), and refuses to register the action if it changes anything but these attributes
# (st2common/util/schema/__init__.py RUNNER_PARAM_OVERRIDABLE_ATTRS).
RUNNER_PARAMETERS = {
    "python-script": {
        "debug": {"type": "boolean", "required": False},
        "content_version": {"type": "string", "required": False},
        "env": {"type": "object"},
        "timeout": {"type": "integer"},
        "log_level": {"type": "string"},
    },
    "orquesta": {"notify": {"type": "array"}},
}
RUNNER_OVERRIDABLE = ("default", "description", "enum", "immutable", "required")
# A name part that marks a credential; such parameters and outputs must be `secret: true`.
SECRET_WORDS = {"password", "passwd", "passphrase", "secret", "token", "credential",
                "credentials", "private_key", "secret_access_key", "session_token"}
# ...unless the value cannot hold one (a flag or a number) or the name says it is a reference.
NOT_SECRET_TYPES = {"boolean", "integer", "number"}
NOT_SECRET_SUFFIXES = ("_arn", "_path", "_key_name", "_id")


def action_files(pack_dir=PACK_DIR):
    return sorted(glob.glob(os.path.join(pack_dir, "actions", "*.yaml")))


def _one_line(text):
    return isinstance(text, str) and text.strip() != "" and "\n" not in text.strip()


def looks_secret(name, spec):
    kinds = spec.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if kinds and kinds <= NOT_SECRET_TYPES:
        return False
    lowered = name.lower()
    if lowered.endswith(NOT_SECRET_SUFFIXES):
        return False
    parts = lowered.split("_")
    joined = {"_".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}
    return bool(joined & SECRET_WORDS)


def _secret_output_problems(where, schema, path=""):
    """Credential-like output properties not masked by their own or a parent's `secret: true`."""
    problems = []
    if not isinstance(schema, dict) or schema.get("secret") is True:
        return problems  # st2 masks the whole value, nested keys included
    if isinstance(schema.get("items"), dict):
        problems += _secret_output_problems(where, schema["items"], path + "[]")
    for name, spec in sorted((schema.get("properties") or {}).items()):
        spec = spec if isinstance(spec, dict) else {}
        here = "%s.%s" % (path, name) if path else name
        if looks_secret(name, spec) and spec.get("secret") is not True:
            problems.append("%s: output_schema property %s looks like a credential: mark it "
                            "`secret: true` so StackStorm masks it in results" % (where, here))
        else:
            problems += _secret_output_problems(where, spec, here)
    return problems


def parameter_problems(where, name, spec, runner_type):
    problems = []
    if not isinstance(spec, dict):
        return ["%s: parameter %s: expected a mapping, got %r" % (where, name, spec)]
    kinds = spec.get("type")
    kinds_list = kinds if isinstance(kinds, list) else [kinds]
    type_ok = bool(kinds) and all(k in JSON_TYPES for k in kinds_list)
    if not type_ok:
        problems.append("%s: parameter %s: `type` must be one of %s, got %r"
                        % (where, name, ", ".join(JSON_TYPES), kinds))
    if not _one_line(spec.get("description")):
        problems.append("%s: parameter %s: needs a one-line `description`" % (where, name))
    if "required" not in spec and "default" not in spec:
        problems.append("%s: parameter %s: say what happens when it is not given: "
                        "`required: true`, a `default`, or `required: false`" % (where, name))
    if "required" in spec and not isinstance(spec["required"], bool):
        problems.append("%s: parameter %s: `required` must be true or false, got %r"
                        % (where, name, spec["required"]))
    if looks_secret(name, spec) and spec.get("secret") is not True:
        problems.append("%s: parameter %s looks like a credential: mark it `secret: true`"
                        % (where, name))
    type_schema = {"type": kinds} if type_ok else {}
    for value in spec.get("enum") or []:
        if type_schema and not jsonschema.Draft4Validator(type_schema).is_valid(value):
            problems.append("%s: parameter %s: enum value %r is not of type %s"
                            % (where, name, value, kinds))
    if "enum" in spec and not (isinstance(spec["enum"], list) and spec["enum"]):
        problems.append("%s: parameter %s: `enum` must be a non-empty list" % (where, name))
    default = spec.get("default")
    is_template = isinstance(default, str) and "{{" in default
    if "default" in spec and default is not None and not is_template and type_schema:
        checked = {k: v for k, v in spec.items()
                   if k in ("type", "enum", "items", "properties", "minimum", "maximum",
                            "additionalProperties", "minLength", "maxLength", "pattern")}
        try:
            jsonschema.validate(default, checked, cls=jsonschema.Draft4Validator)
        except jsonschema.ValidationError as e:
            problems.append("%s: parameter %s: default %r does not match its own schema: %s"
                            % (where, name, default, e.message))
    runner_spec = RUNNER_PARAMETERS.get(runner_type, {}).get(name)
    if runner_spec is not None:
        for attr, value in sorted(runner_spec.items()):
            if attr in spec and spec[attr] != value and attr not in RUNNER_OVERRIDABLE:
                problems.append("%s: parameter %s overrides the %s runner parameter and may not "
                                "change its `%s` (%r): st2 refuses to register the action"
                                % (where, name, runner_type, attr, value))
        for attr in sorted(set(spec) - set(runner_spec) - set(RUNNER_OVERRIDABLE)):
            problems.append("%s: parameter %s overrides the %s runner parameter and may not add "
                            "`%s`: st2 refuses to register the action" % (where, name,
                                                                          runner_type, attr))
    return problems


def position_problems(where, params):
    positions = sorted(spec["position"] for spec in params.values()
                       if isinstance(spec, dict) and "position" in spec)
    if any(not isinstance(p, int) or isinstance(p, bool) for p in positions):
        return ["%s: `position` values must be integers, got %r" % (where, positions)]
    # From 1: StackStorm only asks for contiguous values, and st2web orders a form by position
    # only where it is not 0 (a parameter at 0 that is not required sorts among the others by
    # name, in an order that changes between renders: tests/st2_install/test_30_web.py).
    if positions != list(range(1, len(positions) + 1)):
        return ["%s: `position` values must be unique and consecutive from 1, got %r"
                % (where, positions)]
    return []


def load_action_classes(path, module_name):
    """Classes st2's python runner would register from ``path``: defined there, with ``run``."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module_name and callable(getattr(cls, "run", None))]


def python_entry_problems(where, path, name, params):
    try:
        classes = load_action_classes(path, "_metadata_check_%s" % name)
    except Exception as e:  # pylint: disable=broad-except  # any import error is the finding
        return ["%s: %s cannot be imported: %s: %s" % (where, path, type(e).__name__, e)]
    if len(classes) != 1:
        return ["%s: %s must define exactly one class with a run() method (st2 runs the first "
                "one by name), found %s" % (where, path, [c.__name__ for c in classes])]
    cls = classes[0]
    if not issubclass(cls, BaseAction):
        return ["%s: %s.%s must subclass lib.action.BaseAction"
                % (where, os.path.basename(path), cls.__name__)]
    action_params = {p: None for p in params if p not in RUNNER_PARAMETERS["python-script"]}
    try:
        inspect.signature(cls.run).bind(None, **action_params)
    except TypeError as e:
        return ["%s: %s.run() cannot take the parameters st2 passes (%s): %s"
                % (where, cls.__name__, ", ".join(sorted(action_params)) or "none", e)]
    return []


def metadata_problems(path, pack_dir=PACK_DIR):
    """Every problem with one action metadata file, as sentences; [] when it is fine."""
    where = os.path.relpath(path, pack_dir)
    try:
        with open(path) as f:
            meta = yaml.safe_load(f)
    except yaml.YAMLError as e:
        return ["%s: not valid YAML: %s" % (where, e)]
    if not isinstance(meta, dict):
        return ["%s: expected a mapping of action metadata" % where]
    problems = []
    stem = os.path.splitext(os.path.basename(path))[0]
    name = meta.get("name")
    if name != stem:
        problems.append("%s: `name` must match the file name (%r), got %r" % (where, stem, name))
    if meta.get("pack", "aws") != "aws":
        problems.append("%s: `pack` must be aws, got %r" % (where, meta.get("pack")))
    if not isinstance(meta.get("enabled"), bool):
        problems.append("%s: `enabled` must be stated (true or false)" % where)
    if not _one_line(meta.get("description")):
        problems.append("%s: needs a one-line `description`" % where)
    runner_type = meta.get("runner_type")
    entry_point = meta.get("entry_point") or ""
    entry_path = os.path.join(pack_dir, "actions", entry_point)
    if runner_type not in RUNNER_TYPES:
        problems.append("%s: `runner_type` must be one of %s, got %r"
                        % (where, ", ".join(RUNNER_TYPES), runner_type))
    elif runner_type == "python-script" and entry_point != "%s.py" % stem:
        problems.append("%s: python-script `entry_point` must be %s.py (actions/%s.py), got %r"
                        % (where, stem, stem, entry_point))
    elif runner_type == "orquesta" and not (entry_point.startswith("workflows/")
                                            and entry_point.endswith(".yaml")):
        problems.append("%s: orquesta `entry_point` must be workflows/<name>.yaml, got %r"
                        % (where, entry_point))
    if runner_type in RUNNER_TYPES and entry_point and not os.path.isfile(entry_path):
        problems.append("%s: entry_point %s does not exist (expected actions/%s)"
                        % (where, entry_point, entry_point))
    params = meta.get("parameters") or {}
    if not isinstance(params, dict):
        return problems + ["%s: `parameters` must be a mapping" % where]
    for pname, spec in sorted(params.items()):
        problems += parameter_problems(where, pname, spec, runner_type)
    problems += position_problems(where, params)
    output_schema = meta.get("output_schema")
    if output_schema is not None:
        try:
            jsonschema.Draft4Validator.check_schema(output_schema)
        except jsonschema.SchemaError as e:
            problems.append("%s: output_schema is not a valid JSON schema: %s" % (where, e.message))
        problems += _secret_output_problems(where, output_schema)
        problem = output_schema_problem(output_schema)
        if problem:  # st2 would ignore it: no result checks, no masking
            problems.append("%s: StackStorm ignores this output_schema: %s" % (where, problem))
    if os.path.isfile(entry_path):
        if runner_type == "python-script":
            problems += python_entry_problems(where, entry_path, stem, params)
        elif runner_type == "orquesta" and entry_point.startswith("workflows/"):
            with open(entry_path) as f:
                workflow = yaml.safe_load(f)
            if not (isinstance(workflow, dict) and str(workflow.get("version")) == "1.0"
                    and workflow.get("tasks")):
                problems.append("%s: %s must be an Orquesta workflow (version: 1.0, tasks)"
                                % (where, entry_point))
    return problems


# --- the pack's actions --------------------------------------------------------------------

ACTION_FILES = action_files()


@pytest.mark.parametrize("path", ACTION_FILES, ids=[os.path.basename(p) for p in ACTION_FILES])
def test_action_metadata(path):
    assert metadata_problems(path) == []


def test_the_pack_has_actions():
    names = [os.path.basename(p) for p in ACTION_FILES]
    assert "boto3action.yaml" in names and "assume_role.yaml" in names, names


# --- the checks themselves fail on bad metadata ---------------------------------------------

GOOD_PY = '''
from lib.action import BaseAction


class Greet(BaseAction):
    def run(self, who, shout=None):
        return who
'''

GOOD_META = {
    "name": "greet", "pack": "aws", "runner_type": "python-script", "entry_point": "greet.py",
    "enabled": True, "description": "Say hello.",
    "parameters": {
        "who": {"type": "string", "description": "Whom to greet.", "required": True,
                "position": 1},
        "shout": {"type": "boolean", "description": "Shout.", "required": False},
    },
}


def write_action(tmp_path, meta, code=GOOD_PY, file_name="greet"):
    actions = tmp_path / "actions"
    actions.mkdir(exist_ok=True)
    (actions / ("%s.yaml" % file_name)).write_text(yaml.safe_dump(meta))
    if code is not None:
        (actions / ("%s.py" % file_name)).write_text(code)
    return str(actions / ("%s.yaml" % file_name))


def with_params(**params):
    meta = dict(GOOD_META, parameters=dict(GOOD_META["parameters"]))
    for name, spec in params.items():
        if spec is None:
            meta["parameters"].pop(name)
        else:
            meta["parameters"][name] = spec
    return meta


def test_good_action_passes(tmp_path):
    assert metadata_problems(write_action(tmp_path, GOOD_META), str(tmp_path)) == []


def test_name_runner_entry_point_enabled_description(tmp_path):
    meta = dict(GOOD_META, name="hello", runner_type="local-shell-cmd", description="two\nlines")
    del meta["enabled"]
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: `name` must match the file name ('greet'), got 'hello'",
        "actions/greet.yaml: `enabled` must be stated (true or false)",
        "actions/greet.yaml: needs a one-line `description`",
        "actions/greet.yaml: `runner_type` must be one of python-script, orquesta, "
        "got 'local-shell-cmd'",
    ]


def test_missing_entry_points(tmp_path):
    assert metadata_problems(write_action(tmp_path, GOOD_META, code=None), str(tmp_path)) == [
        "actions/greet.yaml: entry_point greet.py does not exist (expected actions/greet.py)"]
    meta = dict(GOOD_META, runner_type="orquesta", entry_point="greet.yaml")
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: orquesta `entry_point` must be workflows/<name>.yaml, "
        "got 'greet.yaml'"]
    meta["entry_point"] = "workflows/greet.yaml"
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: entry_point workflows/greet.yaml does not exist "
        "(expected actions/workflows/greet.yaml)"]


def test_parameter_rules(tmp_path):
    meta = with_params(
        who={"type": "text", "required": True, "position": 1},
        count={"type": "integer", "description": "How many.", "position": 3},
        api_token={"type": "string", "description": "Token.", "default": ""},
        color={"type": "string", "description": "Color.", "enum": ["red", 3], "default": "red"},
        size={"type": "integer", "description": "Size.", "default": "big"},
    )
    code = GOOD_PY.replace("shout=None",
                           "shout=None, count=None, api_token=None, color=None, size=None")
    assert metadata_problems(write_action(tmp_path, meta, code), str(tmp_path)) == [
        "actions/greet.yaml: parameter api_token looks like a credential: mark it `secret: true`",
        "actions/greet.yaml: parameter color: enum value 3 is not of type string",
        "actions/greet.yaml: parameter count: say what happens when it is not given: "
        "`required: true`, a `default`, or `required: false`",
        "actions/greet.yaml: parameter size: default 'big' does not match its own schema: "
        "'big' is not of type 'integer'",
        "actions/greet.yaml: parameter who: `type` must be one of string, integer, number, "
        "boolean, object, array, null, got 'text'",
        "actions/greet.yaml: parameter who: needs a one-line `description`",
        "actions/greet.yaml: `position` values must be unique and consecutive from 1, got [1, 3]",
    ]


def test_runner_parameter_override(tmp_path):
    meta = with_params(timeout={"type": "string", "description": "Timeout.", "default": "60"})
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: parameter timeout overrides the python-script runner parameter and "
        "may not change its `type` ('integer'): st2 refuses to register the action"]


def test_secret_outputs(tmp_path):
    meta = dict(GOOD_META, output_schema={"type": "object", "properties": {
        "credentials": {"type": "object", "properties": {
            "session_token": {"type": "string"}, "expiration": {"type": "string"}}},
        "users": {"type": "array", "items": {"type": "object", "properties": {
            "password": {"type": "string"}, "name": {"type": "string"}}}},
        "role_arn": {"type": "string"}}})
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: output_schema property credentials looks like a credential: mark "
        "it `secret: true` so StackStorm masks it in results",
        "actions/greet.yaml: output_schema property users[].password looks like a credential: "
        "mark it `secret: true` so StackStorm masks it in results",
    ]
    # a secret parent masks everything under it
    meta["output_schema"]["properties"]["credentials"]["secret"] = True
    meta["output_schema"]["properties"]["users"]["items"]["properties"]["password"]["secret"] = \
        True
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == []


def test_python_class_rules(tmp_path):
    not_base = GOOD_PY.replace("from lib.action import BaseAction",
                               "from st2common.runners.base_action import Action") \
        .replace("(BaseAction)", "(Action)")
    assert metadata_problems(write_action(tmp_path, GOOD_META, not_base), str(tmp_path)) == [
        "actions/greet.yaml: greet.py.Greet must subclass lib.action.BaseAction"]
    two = GOOD_PY + "\n\nclass Helper:\n    def run(self):\n        pass\n"
    assert metadata_problems(write_action(tmp_path, GOOD_META, two), str(tmp_path)) == [
        "actions/greet.yaml: %s must define exactly one class with a run() method (st2 runs "
        "the first one by name), found ['Greet', 'Helper']" % (tmp_path / "actions/greet.py")]
    narrow = GOOD_PY.replace("def run(self, who, shout=None)", "def run(self, who)")
    [problem] = metadata_problems(write_action(tmp_path, GOOD_META, narrow), str(tmp_path))
    assert problem.startswith("actions/greet.yaml: Greet.run() cannot take the parameters st2 "
                              "passes (shout, who): ")
    broken = "import no_such_module_xyz\n"
    [problem] = metadata_problems(write_action(tmp_path, GOOD_META, broken), str(tmp_path))
    assert problem == ("actions/greet.yaml: %s cannot be imported: ModuleNotFoundError: No module "
                       "named 'no_such_module_xyz'" % (tmp_path / "actions/greet.py"))


def test_output_schema_types_st2_would_ignore(tmp_path):
    """st2 validates results and masks secrets only with an output_schema it deems valid
    (st2common/util/output_schema.py _output_schema_is_valid); lib/st2_schema.py says why."""
    meta = dict(GOOD_META, output_schema={"type": "object", "properties": {
        "error": {"type": ["string", "null"]}}})
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: StackStorm ignores this output_schema: output_schema.error: `type` "
        "must be one JSON type name, got ['string', 'null'] (use anyOf for a nullable value)"]
    meta["output_schema"] = {"type": "object", "properties": {"items": {
        "type": "array", "items": {"anyOf": [{"type": ["string", "null"]}]}}}}
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: StackStorm ignores this output_schema: output_schema.items[].anyOf"
        "[0]: `type` must be one JSON type name, got ['string', 'null'] (use anyOf for a nullable "
        "value)"]
    meta["output_schema"] = {"properties": {"error": {"type": "string"}}}
    assert metadata_problems(write_action(tmp_path, meta), str(tmp_path)) == [
        "actions/greet.yaml: StackStorm ignores this output_schema: output_schema needs a "
        "top-level `type`"]


def test_looks_secret():
    assert looks_secret("vault_token", {"type": "string"})
    assert looks_secret("credentials", {"type": "object"})
    assert looks_secret("master_user_password", {"type": "string"})
    assert looks_secret("aws_secret_access_key", {"type": "string"})
    assert not looks_secret("rotate_secret", {"type": "boolean"})
    assert not looks_secret("token_ttl", {"type": "integer"})
    assert not looks_secret("master_user_secret_arn", {"type": "string"})
    assert not looks_secret("vault_path", {"type": "string"})
    assert not looks_secret("tokenizer", {"type": "string"})
