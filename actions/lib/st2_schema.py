"""StackStorm's JSON-schema dialect, for the local chain driver and the tests.

StackStorm checks trigger payloads, action parameters and (with ``[system]
validate_output_schema``) results with one validator (st2common/st2common/util/schema/__init__.py,
``CustomValidator`` and ``validate``): draft 4, except that ``required`` is a boolean on each
property (draft 3's ``properties`` keyword) and that the schema itself must pass a meta-schema in
which ``required`` is a boolean -- a draft-4 ``required: [names]`` list makes the schema invalid,
and then every payload checked against it is refused.

Output schemas are held to more (st2common/st2common/util/output_schema.py,
``_output_schema_is_valid``): a top-level ``type`` and a single JSON type name in every ``type``;
st2 ignores any other output schema with a warning, masking of ``secret: true`` values included.

``jsonschema`` is imported inside the functions: the chain driver imports this module and the
pack's actions never do.
"""

import copy

__all__ = ["SchemaProblem", "validator_class", "validate", "check_output", "output_schema_problem"]

SIMPLE_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


class SchemaProblem(ValueError):
    """The schema itself is one StackStorm refuses (or ignores)."""


def validator_class():
    """A jsonschema validator class with StackStorm's rules (see the module docstring)."""
    import jsonschema  # pylint: disable=import-outside-toplevel

    meta = copy.deepcopy(jsonschema.Draft4Validator.META_SCHEMA)
    meta["properties"]["required"] = {"type": "boolean", "default": False}
    meta.pop("id", None)
    meta.pop("$schema", None)
    validators = dict(jsonschema.Draft4Validator.VALIDATORS)
    validators["properties"] = jsonschema.Draft3Validator.VALIDATORS["properties"]
    validators.pop("required", None)
    return jsonschema.validators.create(
        meta_schema=meta, validators=validators, version="st2-custom",
        type_checker=jsonschema.Draft4Validator.TYPE_CHECKER)


def validate(instance, schema):
    """Raise ``jsonschema.ValidationError`` where StackStorm refuses ``instance``, or
    ``SchemaProblem`` where it refuses ``schema`` (and with it every instance)."""
    import jsonschema  # pylint: disable=import-outside-toplevel

    cls = validator_class()
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaProblem("invalid schema for StackStorm: %s" % exc.message) from None
    cls(schema).validate(instance)


def output_schema_problem(schema, path="output_schema"):
    """None when StackStorm uses ``schema`` as an output_schema, else why it ignores it."""
    if not isinstance(schema, dict):
        return None
    if path == "output_schema" and "type" not in schema:
        return "output_schema needs a top-level `type`"
    kind = schema.get("type")
    if kind is not None and kind not in SIMPLE_TYPES:
        return ("%s: `type` must be one JSON type name, got %r (use anyOf for a nullable value)"
                % (path, kind))
    children = [("%s.%s" % (path, name), spec)
                for name, spec in sorted((schema.get("properties") or {}).items())]
    children += [("%s[]" % path, schema.get("items")),
                 ("%s.*" % path, schema.get("additionalProperties"))]
    for keyword in ("anyOf", "oneOf", "allOf"):
        children += [("%s.%s[%d]" % (path, keyword, i), sub)
                     for i, sub in enumerate(schema.get(keyword) or [])]
    for here, sub in children:
        problem = output_schema_problem(sub, here)
        if problem:
            return problem
    return None


def check_output(meta, raw, output_key):
    """What StackStorm does to a *succeeded* execution with ``validate_output_schema`` on
    (st2common/st2common/util/action_db.py ``update_liveaction_status`` calling
    util/output_schema.py ``validate_output``): ``raw[output_key]`` is checked against the
    action's ``output_schema``; a mismatch turns the execution into a failure whose result is
    the validation error. Returns ``(ok, raw)``.

    Unlike StackStorm, which ignores an output schema it deems invalid, this raises
    ``SchemaProblem``: such a schema is a defect of the pack."""
    import jsonschema  # pylint: disable=import-outside-toplevel

    schema = meta.get("output_schema")
    if not schema or not isinstance(raw, dict) or output_key not in raw:
        return True, raw
    problem = output_schema_problem(schema)
    if problem:
        raise SchemaProblem("%s: StackStorm would ignore this output_schema: %s"
                            % (meta.get("name"), problem))
    try:
        validate(raw[output_key], schema)
    except jsonschema.ValidationError as exc:
        return False, {"error": str(exc).splitlines()[0],
                       "message": "Error validating output. See error output for more details."}
    return True, raw
