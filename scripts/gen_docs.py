#!/usr/bin/env python3
"""Regenerate the README's configuration and actions tables from the pack's metadata.

    scripts/gen_docs.py            rewrite the generated blocks of README.md in place
    scripts/gen_docs.py --check    exit 1 and print a diff when README.md is stale

Sources: ``config.schema.yaml`` (configuration table) and every ``actions/*.yaml`` (actions
tables). Only the text between the ``<!-- BEGIN GENERATED: x -->`` / ``<!-- END GENERATED: x -->``
markers is written. Output is deterministic: configuration keys and actions are sorted by name,
parameters by position and then by name.
"""

import argparse
import difflib
import glob
import json
import os
import sys

import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACK_REF = "aws"
BLOCKS = ("config", "actions")
LEGEND = ("A parameter that is not required and has no default is passed to the action as null "
          "when not given; secret parameters and results are masked by StackStorm.")

__all__ = ["check", "generate", "render_actions", "render_config", "main"]


class DocsError(Exception):
    """The pack's metadata or README cannot be turned into docs; the message names the file."""


def _load_yaml(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DocsError("%s: cannot be read as YAML: %s" % (path, e)) from e


def _cell(text):
    """Text safe for one markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value):
    """A value as inline code: strings as they are (empty as ""), the rest as compact JSON."""
    if isinstance(value, str) and value != "":
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return "`%s`" % text.replace("|", "\\|").replace("`", "'")


def _type(spec):
    kind = spec.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(str(k) for k in kind)
    items = spec.get("items")
    if kind == "array" and isinstance(items, dict) and items.get("type"):
        kind = "array of %s" % items["type"]
    return kind


def _yes(flag):
    return "yes" if flag else "no"


def _default(spec):
    return _code(spec["default"]) if "default" in spec else ""


def _nested(key, spec):
    """``(path, spec)`` of the fields of an object key's entries (``additionalProperties``: one
    row per field as ``key.<name>.field``) or of an array key's items (``key[].field``)."""
    for inner, path in ((spec.get("additionalProperties"), "%s.<name>.%s"),
                        (spec.get("items"), "%s[].%s")):
        if isinstance(inner, dict) and isinstance(inner.get("properties"), dict):
            for field in sorted(inner["properties"]):
                yield path % (key, field), inner["properties"][field] or {}


def _config_row(key, spec):
    description = spec.get("description", "")
    if spec.get("enum"):
        description += " One of: %s." % ", ".join(_code(v) for v in spec["enum"])
    return "| `%s` | %s | %s | %s | %s | %s |" % (
        key, _cell(_type(spec)), _default(spec), _yes(spec.get("required")),
        _yes(spec.get("secret")), _cell(description))


def render_config(schema):
    """Markdown table of the pack config keys in ``config.schema.yaml`` (a mapping), with a row
    for each field of the entries of object keys and of the items of array keys."""
    lines = [
        "| key | type | default | required | secret | description |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(schema or {}):
        spec = schema[key] or {}
        lines.append(_config_row(key, spec))
        lines += [_config_row(path, field) for path, field in _nested(key, spec)]
    return "\n".join(lines)


def _param_order(item):
    name, spec = item
    position = (spec or {}).get("position")
    return (0, position, name) if isinstance(position, int) else (1, 0, name)


def _anchor(title):
    """GitHub's heading anchor for a heading like ``aws.database_plan``."""
    return "".join(c for c in title.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def render_actions(actions):
    """Markdown: an index of the actions, then one parameter table per action.

    ``actions`` is a list of action metadata mappings (the parsed ``actions/*.yaml``).
    """
    actions = sorted(actions, key=lambda a: a.get("name", ""))
    if not actions:
        return "_No actions yet._"
    out = [LEGEND, "", "| action | runner | description |", "|---|---|---|"]
    for meta in actions:
        ref = "%s.%s" % (PACK_REF, meta.get("name", ""))
        out.append("| [`%s`](#%s) | %s | %s |" % (
            ref, _anchor(ref), _cell(meta.get("runner_type", "")),
            _cell(meta.get("description", ""))))
    for meta in actions:
        ref = "%s.%s" % (PACK_REF, meta.get("name", ""))
        out += ["", "### %s" % ref, "", _cell(meta.get("description", ""))]
        if meta.get("enabled") is False:
            out[-1] += " **Disabled.**"
        params = meta.get("parameters") or {}
        if not params:
            out += ["", "No parameters."]
            continue
        out += ["", "| parameter | type | default | required | secret | enum | description |",
                "|---|---|---|---|---|---|---|"]
        for name, spec in sorted(params.items(), key=_param_order):
            spec = spec or {}
            enum = ", ".join(_code(v) for v in spec.get("enum") or [])
            out.append("| `%s` | %s | %s | %s | %s | %s | %s |" % (
                name, _cell(_type(spec)), _default(spec), _yes(spec.get("required")),
                _yes(spec.get("secret")), enum, _cell(spec.get("description", ""))))
    return "\n".join(out)


def load_actions(pack_dir):
    """Parsed metadata of every ``actions/*.yaml`` of the pack, sorted by file name."""
    actions = []
    for path in sorted(glob.glob(os.path.join(pack_dir, "actions", "*.yaml"))):
        meta = _load_yaml(path)
        if not isinstance(meta, dict):
            raise DocsError("%s: expected a mapping of action metadata" % path)
        actions.append(meta)
    return actions


def _replace_block(text, block, body, readme_path):
    begin = "<!-- BEGIN GENERATED: %s -->" % block
    end = "<!-- END GENERATED: %s -->" % block
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < 0 or stop < start:
        raise DocsError("%s: expected the markers %s and %s, in that order"
                        % (readme_path, begin, end))
    return text[:start] + begin + "\n" + body + "\n" + text[stop:]


def generate(pack_dir=PACK_DIR):
    """Return ``(current, wanted)`` README.md texts for the pack at ``pack_dir``."""
    readme_path = os.path.join(pack_dir, "README.md")
    try:
        with open(readme_path) as f:
            current = f.read()
    except OSError as e:
        raise DocsError("%s: cannot be read: %s" % (readme_path, e)) from e
    schema = _load_yaml(os.path.join(pack_dir, "config.schema.yaml")) or {}
    bodies = {"config": render_config(schema), "actions": render_actions(load_actions(pack_dir))}
    wanted = current
    for block in BLOCKS:
        wanted = _replace_block(wanted, block, bodies[block], readme_path)
    return current, wanted


def check(pack_dir=PACK_DIR):
    """Return ``(up_to_date, diff)``: whether README.md matches the metadata, and the diff."""
    current, wanted = generate(pack_dir)
    diff = "".join(difflib.unified_diff(
        current.splitlines(True), wanted.splitlines(True),
        "README.md (current)", "README.md (generated)"))
    return current == wanted, diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 and print a diff when README.md is stale")
    parser.add_argument("--pack-dir", default=PACK_DIR, help="pack folder (default: this repo)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            ok, diff = check(args.pack_dir)
            if not ok:
                sys.stdout.write(diff)
                sys.stderr.write("README.md is stale: run scripts/gen_docs.py and commit it\n")
                return 1
            return 0
        current, wanted = generate(args.pack_dir)
        if wanted != current:
            with open(os.path.join(args.pack_dir, "README.md"), "w") as f:
                f.write(wanted)
            print("README.md updated")
        else:
            print("README.md already up to date")
        return 0
    except DocsError as e:
        sys.stderr.write("gen_docs: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
