"""Run an action's parameters through its metadata the way StackStorm does, for tests.

StackStorm (st2common.util.param / .casts / .schema, 3.8) takes the parameters a user or a
workflow passes, casts strings to each parameter's declared ``type``, fills every declared
parameter (action and runner) with its ``default`` or None, validates the whole against a JSON
schema built from the metadata (unknown names refused; ``required``, ``type``, ``enum``,
``minimum``... enforced), then gives the action's ``run()`` only the action's own parameters (the
runner's, e.g. ``timeout``, go to the runner). This module does the same, so tests call
``action.run(**params)`` with exactly what st2 would pass:

    meta = load_action("boto3action")
    params = action_params(meta, {"service": "rds", "action_name": "describe_db_instances"})
    result = action.run(**params)
    validate_output(meta, result)            # st2 fails an execution whose result does not match
    shown = mask_output(meta, result)        # what `st2 execution get` shows

Not supported: Jinja defaults other than ``{{ config_context.KEY }}`` (rendered from ``config``).
"""

import ast
import copy
import json
import os
import re

import jsonschema
import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTIONS_DIR = os.path.join(PACK_DIR, "actions")

# st2common's MASKED_ATTRIBUTE_VALUE.
MASKED = "********"

# Runner parameters of StackStorm 3.8's runners (contrib/runners/*/runner.yaml), the ones an
# action may override the default of; they are validated but not passed to run().
RUNNER_PARAMETERS = {
    "python-script": {
        "debug": {"type": "boolean", "default": False},
        "content_version": {"type": "string"},
        "env": {"type": "object"},
        "timeout": {"type": "integer", "default": 600},
        "log_level": {"type": "string", "default": "DEBUG",
                      "enum": ["AUDIT", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]},
    },
    "orquesta": {
        "notify": {"type": "array", "default": []},
    },
}

_CONFIG_CONTEXT = re.compile(r"^\{\{\s*config_context\.(\w+)\s*\}\}$")


class ParamError(ValueError):
    """StackStorm would refuse these parameters before running the action."""


def load_action(name, actions_dir=ACTIONS_DIR):
    """The metadata of action ``name`` (``actions/<name>.yaml``)."""
    with open(os.path.join(actions_dir, name + ".yaml")) as f:
        return yaml.safe_load(f)


def cast(value, spec):
    """st2common.util.casts, by the parameter's type."""
    kind = (spec or {}).get("type")
    if value is None or not isinstance(kind, str):
        return value
    if kind in ("object", "array"):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return ast.literal_eval(value)
        return value
    if kind == "boolean":
        return ast.literal_eval(value.capitalize()) if isinstance(value, str) else value
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise ParamError('Value "%s" must either be a string or None. Got "%s".'
                             % (value, type(value).__name__))
        return value
    return value


def _default(spec, config):
    value = copy.deepcopy(spec.get("default"))
    if isinstance(value, str) and "{{" in value:
        match = _CONFIG_CONTEXT.match(value.strip())
        if not match:
            raise NotImplementedError("tests/st2_params.py renders only {{ config_context.KEY }} "
                                      "defaults, not %r" % value)
        value = (config or {}).get(match.group(1))
    return value


def parameters_schema(meta):
    """The JSON schema st2 validates parameters with (runner and action parameters merged;
    ``required: true`` per parameter; None allowed where the default is None)."""
    merged = copy.deepcopy(RUNNER_PARAMETERS.get(meta.get("runner_type"), {}))
    for name, spec in (meta.get("parameters") or {}).items():
        merged.setdefault(name, {}).update(copy.deepcopy(spec))
    properties, required = {}, []
    for name, spec in merged.items():
        is_required = spec.pop("required", False)
        if is_required:
            required.append(name)
        for key in ("position", "secret", "immutable"):
            spec.pop(key, None)
        nullable = (not is_required or "default" in spec) and spec.get("default") is None
        if nullable and isinstance(spec.get("type"), str):
            spec["type"] = [spec["type"], "null"]
        properties[name] = spec
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:  # draft 4 wants a non-empty list
        schema["required"] = required
    return schema


def render_params(meta, live, config=None):
    """(action parameters, runner parameters) as st2 would finalize them from ``live``."""
    runner_names = set(RUNNER_PARAMETERS.get(meta.get("runner_type"), {}))
    specs = dict(RUNNER_PARAMETERS.get(meta.get("runner_type"), {}))
    specs.update(meta.get("parameters") or {})
    unknown = sorted(set(live) - set(specs))
    if unknown:
        raise ParamError("Additional properties are not allowed (%s were unexpected)"
                         % ", ".join(repr(u) for u in unknown))
    values = {}
    for name, spec in specs.items():
        if name in live and live[name] is not None:
            values[name] = cast(live[name], spec)
        elif _default(spec, config) is not None:  # st2 replaces None with the default
            values[name] = cast(_default(spec, config), spec)
        elif name in live:
            values[name] = None
    try:
        jsonschema.validate(values, parameters_schema(meta), cls=jsonschema.Draft4Validator)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise ParamError("%s%s" % ("%s: " % where if where else "", exc.message)) from None
    for name in specs:  # every declared parameter reaches the runner, None when unset
        values.setdefault(name, None)
    action = {k: v for k, v in values.items() if k not in runner_names}
    runner = {k: v for k, v in values.items() if k in runner_names}
    return action, runner


def action_params(meta, live, config=None):
    """The keyword arguments st2's python runner passes to ``run()``."""
    return render_params(meta, live, config)[0]


def secret_parameters(meta):
    return sorted(name for name, spec in (meta.get("parameters") or {}).items()
                  if spec.get("secret"))


def validate_output(meta, result):
    """Raise ``jsonschema.ValidationError`` if st2 would fail the execution for its result."""
    schema = meta.get("output_schema")
    if schema:
        jsonschema.validate(result, schema, cls=jsonschema.Draft4Validator)


def _mask(spec, value):
    if not isinstance(spec, dict):
        return value
    if spec.get("secret"):
        return MASKED
    if spec.get("type") == "object" and isinstance(value, dict):
        props = spec.get("properties") or {}
        extra = spec.get("additionalProperties")
        return {k: _mask(props[k] if k in props else extra, v) for k, v in value.items()}
    if spec.get("type") == "array" and isinstance(value, list):
        return [_mask(spec.get("items"), item) for item in value]
    return value


def mask_output(meta, result):
    """``result`` as st2's API shows it: values under ``secret: true`` in output_schema masked
    (st2common.util.output_schema.mask_secret_output)."""
    return _mask(meta.get("output_schema"), copy.deepcopy(result))
