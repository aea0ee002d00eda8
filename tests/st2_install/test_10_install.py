"""`st2 pack install` of this repository from a git mirror, through StackStorm's own packs.install
workflow (download, virtualenv, requirements.txt, registration of every resource), `st2 pack
get`, `st2 action list`, the secrets in the datastore and the pack config registered and
validated against config.schema.yaml: docs/install.md sections 1-3, in that order (the upgrade
and the removal are test_90_upgrade_remove.py). Run by tests/st2_install/run.sh; skipped
elsewhere.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st2install as h  # noqa: E402

if h.skip_reason():
    pytest.skip(h.skip_reason(), allow_module_level=True)

import yaml  # noqa: E402

PACK_DIR, VENV, CONFIG = h.PACK_DIR, h.VENV, h.CONFIG


def _resources(kind):
    """Refs of the pack's resources as the files of the installed snapshot (the mirror) declare
    them."""
    refs = []
    for path in sorted(glob.glob(os.path.join(h.MIRROR, kind, "*.yaml"))):
        with open(path) as f:
            meta = yaml.safe_load(f)
        if kind == "sensors":
            refs.append("aws." + meta["class_name"])
        else:
            refs.append("aws." + meta["name"])
    return refs


def make_mirror():
    """A git repository of the working tree (committed or not, as ../shared/st2check/check
    takes it): tag v<version> of pack.yaml, then a commit with the next patch version, tagged."""
    shutil.rmtree(h.MIRROR, ignore_errors=True)
    os.makedirs(h.MIRROR)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=h.ROOT,
                           capture_output=True, check=True).stdout
    subprocess.run("tar --null -T - -c | tar -x -C %s" % h.MIRROR, shell=True, cwd=h.ROOT,
                   input=files, check=True)
    git = ["git", "-c", "user.email=check@localhost", "-c", "user.name=check"]
    version = h.pack_yaml_version(os.path.join(h.MIRROR, "pack.yaml"))
    h.sh(["git", "init", "-q", "-b", "main"], cwd=h.MIRROR)
    h.sh(["git", "add", "-A"], cwd=h.MIRROR)
    h.sh(git + ["commit", "-qm", "aws " + version], cwd=h.MIRROR)
    h.sh(["git", "tag", "v" + version], cwd=h.MIRROR)
    nxt = h.next_version(version)
    path = os.path.join(h.MIRROR, "pack.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("version: %s" % version, "version: %s" % nxt, 1))
    h.sh(git + ["commit", "-qam", "aws " + nxt], cwd=h.MIRROR)
    h.sh(["git", "tag", "v" + nxt], cwd=h.MIRROR)
    # the mirror's pack index ([content] index_url): the newest version and where it is
    with open(path) as f:
        meta = yaml.safe_load(f)
    entry = {k: meta[k] for k in ("ref", "name", "description", "keywords", "version", "author",
                                  "email") if k in meta}
    entry["repo_url"] = "file://" + h.MIRROR
    with open(os.path.join(os.path.dirname(h.MIRROR), "index.json"), "w") as f:
        json.dump({"metadata": {"generated_ts": 0, "hash": ""}, "packs": {"aws": entry}}, f)
    return version, nxt


def pack_config():
    """/opt/stackstorm/configs/aws.yaml for the local servers, secrets from the st2 datastore."""
    st = h.stack()
    return {
        "region": st["aws"]["region"],
        "endpoint_url": st["aws"]["endpoint_url"],
        "aws_access_key_id": "{{ st2kv.system.aws_access_key_id }}",
        "aws_secret_access_key": "{{ st2kv.system.aws_secret_access_key }}",
        "role_arn": "arn:aws:iam::123456789012:role/st2-dbaas",
        "role_session_duration": 3600,
        "kubeconfig": st["kube"]["kubeconfig"],
        "kube_verify_ssl": True,
        "watch_resources": [{"group": "dbaas.stackstorm.com", "version": "v1alpha1",
                             "plural": "databases", "namespace": h.NAMESPACE}],
        "watch_timeout_seconds": 60,
        "watch_read_timeout_seconds": 90,
        "vault_url": st["vault"]["addr"],
        "vault_auth_method": "token",
        "vault_token": "{{ st2kv.system.vault_token }}",
        "vault_kv_mount": st["vault"].get("kv_mount", "secret"),
        "consul_host": st["consul"]["host"],
        "consul_port": int(st["consul"]["port"]),
        "consul_scheme": "http",
        "vpc_security_group_ids": [],
    }


def test_install():
    """docs/install.md sections 1-3, in that order."""
    results = {}
    version, nxt = make_mirror()
    url = "file://" + h.MIRROR
    rc, out = h.st2("login", h.USER, "-p", h.PASSWORD, "-w")
    assert "Logged in as st2admin" in out

    # --- 1. st2 pack install: StackStorm's packs.install workflow
    rc, out = h.st2("pack", "install", "%s=v%s" % (url, version), timeout=900)
    for task in ("download_pack", "make_a_prerun", "get_pack_dependencies",
                 "install_pack_requirements", "get_pack_warnings", "register_pack"):
        assert "succeeded ] %s" % task in out, "task %s did not succeed:\n%s" % (task, out)
    assert h.prop(out, "version") == version, out
    executions = h.st2_json("execution", "list", "--action=packs.install", "-n", "1")
    assert executions and executions[0]["status"] == "succeeded"
    results["install_execution"] = executions[0]["id"]
    # what it made: the pack folder (a git checkout of the tag), its virtualenv with
    # requirements.txt installed
    assert h.pack_yaml_version(os.path.join(PACK_DIR, "pack.yaml")) == version
    python = os.path.join(VENV, "bin", "python")
    assert os.path.exists(python), "no pack virtualenv at %s" % VENV
    out = h.sh([python, "-c", "import boto3, kubernetes, hvac, consul, yaml; "
                "print(boto3.__version__, kubernetes.__version__)"])
    results["virtualenv_versions"] = out.strip()
    freeze = h.sh([python, "-m", "pip", "freeze"])
    for req in ("boto3", "kubernetes", "hvac", "py-consul", "PyYAML"):
        assert req.lower() in freeze.lower(), "%s not in the pack virtualenv" % req
    # the CLI sees the pack and every resource
    rc, out = h.st2("pack", "get", "aws")
    assert h.prop(out, "version") == version and h.prop(out, "name") == "aws", out
    h.st2("action", "list", "--pack=aws")
    actions = [a["ref"] for a in h.st2_json("action", "list", "--pack=aws")]
    assert sorted(actions) == sorted(_resources("actions")), (actions, _resources("actions"))
    rules = [r["ref"] for r in h.st2_json("rule", "list", "--pack=aws")]
    assert sorted(rules) == sorted(_resources("rules"))
    sensors = [s["ref"] for s in h.st2_json("sensor", "list", "--pack=aws")]
    assert sorted(sensors) == sorted(_resources("sensors"))
    triggers = [t["ref"] for t in h.st2_json("trigger", "list", "--pack=aws")]
    assert sorted(triggers) == sorted(_resources("triggers"))
    results.update(actions=len(actions), rules=len(rules), sensors=len(sensors),
                   triggers=len(triggers))

    # --- 2. secrets into the datastore, encrypted
    st = h.stack()
    for key, value in (("aws_access_key_id", st["aws"]["access_key_id"]),
                       ("aws_secret_access_key", st["aws"]["secret_access_key"]),
                       ("vault_token", st["vault"]["token"])):
        h.st2("key", "set", key, value, "--encrypt")
    rc, out = h.st2("key", "get", "vault_token")
    assert st["vault"]["token"] not in out, "an encrypted key is shown in clear"

    # --- 3. the pack config, registered and validated against config.schema.yaml
    with open(CONFIG, "w") as f:
        yaml.safe_dump(pack_config(), f, sort_keys=False)
    h.transcript("# /opt/stackstorm/configs/aws.yaml written (%d keys)" % len(pack_config()))
    h.st2("pack", "register", "aws", "--types", "configs")
    config = h.api("/configs/aws")
    assert config["values"]["region"] == st["aws"]["region"]
    assert config["values"]["consul_port"] == int(st["consul"]["port"])
    # validation is real: a value of the wrong type is refused, naming the key
    good = open(CONFIG).read()
    with open(CONFIG, "w") as f:
        f.write(good.replace("consul_port: %s" % st["consul"]["port"], "consul_port: eighty"))
    log_size = os.path.getsize(os.path.join(h.RUN, "st2.log"))
    rc, out = h.st2("pack", "register", "aws", "--types", "configs", check=False)
    # the CLI gets a bare 500; st2api's log names the key (what docs/install.md tells operators)
    with open(os.path.join(h.RUN, "st2.log")) as f:
        f.seek(log_size)
        logged = [ln.strip() for ln in f if 'Failed validating attribute "consul_port"' in ln]
    h.transcript("# st2api log: %s" % (logged[:1] or "nothing about consul_port"))
    assert rc != 0 and logged, (out, logged)
    assert "'eighty' is not of type 'integer'" in logged[0]
    results["invalid_config_refused"] = logged[0][logged[0].index("Failed"):]
    with open(CONFIG, "w") as f:
        f.write(good)
    h.st2("pack", "register", "aws", "--types", "configs")
    assert h.api("/configs/aws")["values"] == config["values"]
    results.update(version=version, next_version=nxt, url=url, config_sha=h.sha256(CONFIG),
                   config_values=config["values"], action_refs=sorted(actions))
    h.save("install.json", results)
    print("PASS st2 pack install %s=v%s (packs.install: download, virtualenv, requirements, "
          "register; %d actions, %d rules, %d sensors, %d triggers); secrets in the datastore; "
          "config registered and validated (a bad consul_port refused)"
          % (url, version, len(actions), len(rules), len(sensors), len(triggers)))
