"""docs/install.md, "Upgrading and removing": `st2 pack install` of the next version over the
installed one (the config in /opt/stackstorm/configs/aws.yaml kept, and validated again by the
registration), then the Database deleted through the pack's own delete workflow, then `st2 pack
remove aws`. Runs last. Run by tests/st2_install/run.sh; skipped elsewhere."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st2install as h  # noqa: E402

if h.skip_reason():
    pytest.skip(h.skip_reason(), allow_module_level=True)


PACK_DIR, VENV, CONFIG = h.PACK_DIR, h.VENV, h.CONFIG


def _install_state():
    with open(os.path.join(h.RUN, "install.json")) as f:
        return json.load(f)


def _database_delete():
    runs = h.st2_json("execution", "list", "--action=aws.database_delete", "-n", "5")
    done = [r for r in runs or [] if r["status"] not in ("requested", "scheduled", "running")]
    return done[0] if done else None


def test_upgrade_then_remove():
    state = _install_state()
    nxt = state["next_version"]
    # --- the next version over the installed one: the config is kept
    rc, out = h.st2("pack", "install", "%s=v%s" % (state["url"], nxt), timeout=900)
    assert "succeeded ] register_pack" in out and h.prop(out, "version") == nxt, out
    rc, out = h.st2("pack", "get", "aws")
    assert h.prop(out, "version") == nxt, out
    assert h.pack_yaml_version(os.path.join(PACK_DIR, "pack.yaml")) == nxt
    assert h.sha256(CONFIG) == state["config_sha"], "the upgrade changed the pack config"
    assert h.api("/configs/aws")["values"] == state["config_values"]
    refs = sorted(a["ref"] for a in h.st2_json("action", "list", "--pack=aws"))
    assert refs == state["action_refs"]
    assert os.path.exists(os.path.join(VENV, "bin", "python"))
    rc, out = h.st2("run", "aws.boto3action", "service=rds", "action_name=describe_db_instances")
    assert h.prop_line(out, "status") == "succeeded", out
    print("PASS upgrade: st2 pack install ...=v%s over v%s, config kept, actions run" % (
        nxt, state["version"]))

    # --- before removing: the Database deleted through the pack (its finalizer)
    if os.path.exists(os.path.join(h.RUN, "database.json")):
        h.kubectl("delete", "database", "-n", h.NAMESPACE, "orders-db", "--wait=false")
        run = h.wait_for(_database_delete, timeout=420, every=5, what="aws.database_delete")
        assert run["status"] == "succeeded", json.dumps(run)[:3000]
        h.wait_for(lambda: "NotFound" in " ".join(
            [h.kubectl("get", "database", "-n", h.NAMESPACE, "orders-db", check=False) or "",
             _stderr_of_get()]), timeout=120, what="the Database gone")
        h.transcript("# the sensor container stops: %s" % h.control("sensor/stop"))

    # --- st2 pack remove
    rc, out = h.st2("pack", "remove", "aws", timeout=600)
    assert h.prop(out, "name") == "aws", out          # the CLI prints the pack it removed
    runs = h.st2_json("execution", "list", "--action=packs.uninstall", "-n", "1")
    assert runs and runs[0]["status"] == "succeeded", runs
    h.st2("execution", "get", runs[0]["id"])
    rc, out = h.st2("pack", "get", "aws", check=False)
    assert "not found" in out.lower() or rc != 0, out
    rc, out = h.st2("action", "list", "--pack=aws")
    assert "aws." not in out, out
    assert h.api("/actions?pack=aws") == [] and h.api("/rules?pack=aws") == []
    assert h.api("/sensortypes?pack=aws") == []
    assert not os.path.exists(PACK_DIR), "the pack folder is still there"
    assert not os.path.exists(VENV), "the pack virtualenv is still there"
    kept = os.path.exists(CONFIG)
    h.save("remove.json", {"config_file_kept": kept})
    print("PASS st2 pack remove aws: pack, virtualenv and resources gone (config file %s)"
          % ("kept" if kept else "removed"))


def _stderr_of_get():
    import subprocess
    env = dict(os.environ, KUBECONFIG=h.stack()["kube"]["kubeconfig"])
    done = subprocess.run(["kubectl", "get", "database", "-n", h.NAMESPACE, "orders-db"],
                          capture_output=True, text=True, env=env)
    return done.stderr
