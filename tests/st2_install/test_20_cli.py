"""The CRDs (docs/install.md section 4), then the `st2` CLI on the installed pack (section 5):
st2 run aws.boto3action,
aws.assume_role and aws.kubernetes_call, a misspelt parameter refused naming it, and
`st2 execution get` showing results with secrets masked (docs/install.md, section 5).
Run by tests/st2_install/run.sh; skipped elsewhere."""

import base64
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st2install as h  # noqa: E402

if h.skip_reason():
    pytest.skip(h.skip_reason(), allow_module_level=True)

SECRET_VALUE = "s3cr3t-st2install-%s" % os.getpid()


def _result(execution_id, show_secrets=False):
    return h.api("/executions/%s%s" % (execution_id, "?show_secrets=true" if show_secrets else ""))


def test_crds():
    """docs/install.md section 4: the custom resource definitions."""
    h.kubectl("apply", "-f", os.path.join(h.ROOT, "k8s", "crds", "database.yaml"),
              "-f", os.path.join(h.ROOT, "k8s", "crds", "mysqldb.yaml"))
    h.kubectl("wait", "--for=condition=Established", "crd/databases.dbaas.stackstorm.com",
              "--timeout=60s")
    out = h.kubectl("get", "crd", "databases.dbaas.stackstorm.com", "mysqldbs.stackstorm.com")
    assert "databases.dbaas.stackstorm.com" in out and "mysqldbs.stackstorm.com" in out


def test_cli():
    """docs/install.md section 5: first calls with the st2 CLI."""
    results = {}
    # --- aws.boto3action
    rc, out = h.st2("run", "aws.boto3action", "service=rds", "action_name=describe_db_instances")
    assert h.prop_line(out, "status") == "succeeded", out
    assert "DBInstances:" in out
    results["boto3action"] = h.execution_id(out)

    # --- aws.assume_role: the credentials masked by StackStorm (output_schema secret)
    rc, out = h.st2("run", "aws.assume_role", "session_name=st2install-cli")
    assert h.prop_line(out, "status") == "succeeded", out
    assert "credentials: '********'" in out, out
    ex_id = h.execution_id(out)
    real = _result(ex_id, show_secrets=True)["result"]["result"]["credentials"]
    assert real["aws_secret_access_key"] and real["aws_session_token"]
    rc, shown = h.st2("execution", "get", ex_id)
    rc, shown_json = h.st2("execution", "get", ex_id, "-j")
    rc, listing = h.st2("execution", "list", "--action=aws.assume_role")
    for text in (out, shown, shown_json, listing):
        assert real["aws_secret_access_key"] not in text and real["aws_session_token"] not in text
    assert "credentials: '********'" in shown
    assert json.loads(shown_json)["result"]["result"]["credentials"] == "********"
    results["assume_role"] = ex_id

    # --- a misspelt parameter: refused before anything runs, the CLI's error names it
    before = len(h.api("/executions?action=aws.boto3action&limit=50"))
    rc, out = h.st2("run", "aws.boto3action", "service=rds", "action_name=describe_db_instances",
                    "regoin=eu-west-1", check=False)
    assert rc != 0 and "'regoin' was unexpected" in out, out
    assert len(h.api("/executions?action=aws.boto3action&limit=50")) == before
    results["invalid_parameter"] = [ln for ln in out.splitlines() if "regoin" in ln][0]

    # --- aws.kubernetes_call: a Secret written through secret_params, read back with
    # include_secret_data; its value never shows in the CLI's output
    name = "st2install-cli-%s" % os.getpid()
    body = {"body": {"metadata": {"name": name}, "stringData": {"password": SECRET_VALUE}}}
    rc, out = h.st2("run", "aws.kubernetes_call", "api=CoreV1Api",
                    "method=create_namespaced_secret", 'params={"namespace": "default"}',
                    "secret_params=" + json.dumps(body))
    assert h.prop_line(out, "status") == "succeeded", out
    rc, out = h.st2("run", "aws.kubernetes_call", "api=CoreV1Api",
                    "method=read_namespaced_secret",
                    'params={"namespace": "default", "name": "%s"}' % name,
                    "include_secret_data=true")
    assert h.prop_line(out, "status") == "succeeded", out
    ex_id = h.execution_id(out)
    rc, shown = h.st2("execution", "get", ex_id)
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for text in (out, shown):
        assert SECRET_VALUE not in text and encoded not in text
        assert "password: '********'" in text and "secret_data: '********'" in text
    real = _result(ex_id, show_secrets=True)["result"]["result"]["secret_data"]
    assert real["default/%s" % name]["password"] == encoded
    rc, out = h.st2("run", "aws.kubernetes_call", "api=CoreV1Api",
                    "method=delete_namespaced_secret",
                    'params={"namespace": "default", "name": "%s"}' % name)
    assert h.prop_line(out, "status") == "succeeded", out
    results["kubernetes_call"] = ex_id
    # nothing secret in the process's log either
    with open(os.path.join(h.RUN, "st2.log")) as f:
        log = f.read()
    assert SECRET_VALUE not in log and encoded not in log
    h.save("cli.json", results)
    print("PASS st2 CLI: st2 run aws.boto3action, aws.assume_role (credentials ********), "
          "aws.kubernetes_call (secret_data ********), misspelt parameter refused (%s), "
          "st2 execution get masked" % results["invalid_parameter"].strip())
