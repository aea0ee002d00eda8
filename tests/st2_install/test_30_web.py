"""StackStorm's web UI (st2web) in headless Chromium on the installed pack: sign-in, the pack
and its config form, every action's form checked against the action's metadata (parameters,
types, enums, defaults, required marks, secrets masked, object/array parameters editable), a run
of aws.boto3action from its form with its result, and the execution tree of a Database's
aws.database_create. Screenshots go to docs/images/ (shown in docs/install.md).
Run by tests/st2_install/run.sh (web_check.js does the browsing); skipped without StackStorm,
Node.js, playwright-core or Chromium."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st2install as h  # noqa: E402

if h.skip_reason():
    pytest.skip(h.skip_reason(), allow_module_level=True)
NODE_PATH = os.environ.get("ST2_INSTALL_NODE_PATH", "")
if not shutil.which("node") or not shutil.which("chromium") \
        or not os.path.isdir(os.path.join(NODE_PATH, "playwright-core")):
    pytest.skip("the web UI check needs Node.js, Debian's chromium and playwright-core "
                "(run.sh installs it; ST2_INSTALL_WEB=0 turns the check off)",
                allow_module_level=True)

IMAGES = os.path.join(h.ROOT, "docs", "images")
SHOTS = ("st2-pack-aws.png", "st2-action-boto3action.png", "st2-action-kubernetes_call.png",
         "st2-execution-boto3action.png", "st2-execution-database-create.png")


# st2web sorts by position only where it is truthy (modules/st2-auto-form: `if (a.position ||
# b.position)`): a parameter at position 0 that is not required would sort among the
# unpositioned ones and the runner's by name, in an order that changes between renders. The
# pack's positions start at 1 (tests/test_action_metadata.py), so every form's order is checked.


def _form_problems(ref, params, seen):
    """What the form shows against the metadata, parameter by parameter."""
    problems = []
    visible = {n: p for n, p in params.items() if not p.get("immutable")}
    for name, spec in sorted(visible.items()):
        f = seen["fields"].get(name) or {}
        if not f.get("present") or not f.get("visible"):
            problems.append("%s: parameter %s has no visible field" % (ref, name))
            continue
        if bool(spec.get("required")) != bool(f.get("required_mark")):
            problems.append("%s: %s required=%s but the form marks it %s"
                            % (ref, name, spec.get("required"), f.get("required_mark")))
        if spec.get("secret") and "--secret" not in (f.get("classes") or ""):
            problems.append("%s: secret parameter %s is shown in clear" % (ref, name))
        if spec.get("enum"):
            if f.get("tag") != "select" or not set(spec["enum"]) <= set(f.get("options") or []):
                problems.append("%s: enum %s is not a select of %s (%s)"
                                % (ref, name, spec["enum"], f.get("options")))
        elif spec.get("type") == "boolean":
            if f.get("type") != "checkbox":
                problems.append("%s: boolean %s is not a checkbox" % (ref, name))
        elif spec.get("type") in ("object", "array"):
            if f.get("tag") not in ("textarea", "input") or f.get("disabled"):
                problems.append("%s: %s %s is not editable" % (ref, spec["type"], name))
        if "default" in spec and spec.get("type") not in ("boolean",) and not spec.get("enum") \
                and spec["default"] not in (None, "", [], {}):
            shown = f.get("placeholder") or ""
            want = spec["default"] if isinstance(spec["default"], str) else json.dumps(
                spec["default"])
            # st2web shows a default of 0 as an empty field: the description must say what 0 is
            zero_told = spec["default"] == 0 and re.search(r"\b0\b", spec.get("description", ""))
            if not zero_told and \
                    str(want).replace(" ", "") not in shown.replace(" ", "").replace("\n", ""):
                problems.append("%s: default of %s is %r, the form shows %r"
                                % (ref, name, spec["default"], shown))
        if (f.get("line_height") or 0) > 400:
            problems.append("%s: the field of %s is %s px high (a description too long?)"
                            % (ref, name, f["line_height"]))
    # the form lists the parameters with a position first, in that order (st2web sorts by
    # position only when it is truthy: a position 0 sorts among the others by name)
    positioned = [n for n, p in sorted(visible.items(), key=lambda kv: kv[1].get("position", 99))
                  if "position" in p]
    shown = [n for n in seen.get("order") or [] if n in visible]
    if shown[:len(positioned)] != positioned:
        problems.append("%s: the form's order starts %s, the metadata's positions say %s"
                        % (ref, shown[:len(positioned) + 1], positioned))
    if seen.get("overflow"):
        problems.append("%s: the form is wider than its panel" % ref)
    return problems


def test_web_ui():
    web = os.path.join(h.RUN, "web")
    os.makedirs(web, exist_ok=True)
    actions = [{"ref": a["ref"], "parameters": a.get("parameters") or {}}
               for a in h.api("/actions?pack=aws&limit=100")]
    assert actions
    with open(os.path.join(web, "actions.json"), "w") as f:
        json.dump(actions, f)
    db = {}
    if os.path.exists(os.path.join(h.RUN, "database.json")):
        with open(os.path.join(h.RUN, "database.json")) as f:
            db = json.load(f)
    env = dict(os.environ, NODE_PATH=NODE_PATH, WEB_BASE=h.base_url(), WEB_OUT=web,
               WEB_USER=h.USER, WEB_PASSWORD=h.PASSWORD,
               WEB_ACTIONS=os.path.join(web, "actions.json"),
               WEB_DB_EXECUTION=db.get("execution", ""))
    done = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "web_check.js")],
                          env=env, capture_output=True, text=True, timeout=900)
    h.transcript("$ node tests/st2_install/web_check.js\n%s%s[rc %d]"
                 % (done.stdout, done.stderr[-3000:], done.returncode))
    with open(os.path.join(web, "web.json")) as f:
        rec = json.load(f)
    assert not rec.get("error"), rec["error"]
    assert rec.get("signed_in")
    # the pack and its config form: a field for each key of config.schema.yaml
    import yaml
    with open(os.path.join(h.ROOT, "config.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    missing = sorted(set(schema) - set(rec["pack"]["config_fields"]))
    assert not missing, "config keys without a field in the pack view: %s" % missing
    # every action's form
    problems = []
    for action in actions:
        seen = rec["actions"].get(action["ref"])
        if not seen:
            problems.append("%s: no form" % action["ref"])
            continue
        problems += _form_problems(action["ref"], action["parameters"], seen)
    h.save("web-problems.json", {"problems": problems})
    assert not problems, "\n".join(problems)
    assert rec["params_invalid"] is False and rec["params_invalid_when_broken"] is True
    # the run from the form, and its result on the page
    run = rec.get("form_run") or {}
    assert run.get("status") == "succeeded", run
    assert run["parameters"].get("service") == "rds"
    assert run["parameters"].get("params") == {"MaxRecords": 20}
    assert "DBInstances" in run.get("output_text", ""), run
    # the Database provisioning tree
    if db:
        tree = rec.get("database") or {}
        text = " ".join(tree.get("children") or [])
        for task in ("aws.database_plan", "aws.assume_role", "aws.boto3action",
                     "aws.database_store_credentials", "aws.database_set_status"):
            assert task in text, "%s not in the execution tree: %s" % (task, text[:2000])
    os.makedirs(IMAGES, exist_ok=True)
    for name in SHOTS:
        src = os.path.join(web, name)
        assert os.path.exists(src), "no screenshot %s" % name
        shutil.copyfile(src, os.path.join(IMAGES, name))
    print("PASS web UI: signed in; pack aws with %d config fields; %d action forms match their "
          "metadata; aws.boto3action run from its form: %s; Database tree %s"
          % (len(rec["pack"]["config_fields"]), len(rec["actions"]), run["status"],
             db.get("execution", "not run")))
    print("EVIDENCE screenshots: %s" % ", ".join("docs/images/" + s for s in SHOTS))
