"""Helpers of the install, CLI and web UI checks (tests/st2_install/run.sh).

Everything runs the real `st2` CLI of $ST2CHECK/venv as a subprocess against the StackStorm
that run.sh serves (tests/st2_install/st2_server.py), and writes each command with its output
to $ST2_INSTALL_RUN/transcript.txt: the evidence a person reads. Without run.sh's environment
(under `make test`) the test modules skip before they use any of this.
"""

import hashlib
import json
import os
import re
import subprocess
import time
import urllib.request

RUN = os.environ.get("ST2_INSTALL_RUN", "")
ST2CHECK = os.environ.get("ST2CHECK", "")
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
USER, PASSWORD = "st2admin", "Ch@ngeMe-st2install"
OPT = "/opt/stackstorm"
PACK_DIR = os.path.join(OPT, "packs", "aws")  # where st2 pack install puts the pack
VENV = os.path.join(OPT, "virtualenvs", "aws")  # the pack's virtualenv
CONFIG = os.path.join(OPT, "configs", "aws.yaml")  # the pack config
MIRROR = os.path.join(RUN, "mirror", "st2-pack-aws")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NAMESPACE = "st2install"


def skip_reason():
    """Why the checks cannot run here, or None."""
    if not RUN or not ST2CHECK:
        return ("the StackStorm install, CLI and web UI checks run through tests/st2_install/run.sh"
                " (needs StackStorm from ../shared/st2check/install.sh)")
    if not os.path.exists(os.path.join(ST2CHECK, "venv", "bin", "st2")):
        return "no StackStorm in %s: run ../shared/st2check/install.sh" % ST2CHECK
    return None


def transcript(text):
    with open(os.path.join(RUN, "transcript.txt"), "a") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def st2(*args, check=True, timeout=600, input_text=None):
    """Run `st2 ARGS`; returns (rc, output without colours). Logged to the transcript."""
    cmd = [os.path.join(ST2CHECK, "venv", "bin", "st2")] + list(args)
    shown = "$ st2 " + " ".join(_quote(a) for a in args)
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input_text)
    out = ANSI.sub("", done.stdout + done.stderr)
    transcript("%s\n%s\n[rc %d, %.1f s]\n" % (shown, out.rstrip(), done.returncode,
                                              time.time() - started))
    if check and done.returncode != 0:
        raise AssertionError("%s failed (rc %d):\n%s" % (shown, done.returncode, out[-3000:]))
    return done.returncode, out


def st2_json(*args, **kw):
    rc, out = st2(*(list(args) + ["-j"]), **kw)
    return json.loads(out)


def _quote(arg):
    return "'%s'" % arg if re.search(r"[\s{}\"*]", arg) else arg


def sh(cmd, cwd=None, check=True):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, shell=isinstance(cmd, str))
    transcript("$ %s\n%s[rc %d]\n" % (cmd if isinstance(cmd, str) else " ".join(cmd),
                                      done.stdout + done.stderr, done.returncode))
    if check and done.returncode != 0:
        raise AssertionError("%s failed: %s" % (cmd, done.stderr[-2000:]))
    return done.stdout


def prop(table, name):
    """The value of row NAME of a property table the CLI printed (first line of it)."""
    m = re.search(r"^\|\s*%s\s*\|\s*(.*?)\s*\|\s*$" % re.escape(name), table, re.M)
    return m.group(1) if m else None


def prop_line(text, name):
    """The value of `name: value` as `st2 run` / `st2 execution get` print it."""
    m = re.search(r"^%s:\s*(.*?)\s*$" % re.escape(name), text, re.M)
    return m.group(1) if m else None


def base_url():
    return os.environ["ST2_BASE_URL"]


def token():
    path = os.path.join(RUN, "token")
    if not os.path.exists(path):
        _, out = st2("auth", USER, "-p", PASSWORD, "-t")
        with open(path, "w") as f:
            f.write(out.strip().splitlines()[-1])
    with open(path) as f:
        return f.read().strip()


def api(path, method="GET", body=None):
    """The st2 API as the web UI calls it (X-Auth-Token)."""
    req = urllib.request.Request(base_url() + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-Auth-Token": token(),
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def control(path):
    with urllib.request.urlopen(base_url() + "/_check/" + path, timeout=120) as resp:
        return json.loads(resp.read())


def stack():
    with open(os.environ["STACK_JSON"]) as f:
        return json.load(f)


def kubectl(*args, check=True):
    """kubectl against the check's Kubernetes API server, written to the transcript."""
    env = dict(os.environ, KUBECONFIG=stack()["kube"]["kubeconfig"])
    done = subprocess.run(["kubectl"] + list(args), capture_output=True, text=True, env=env)
    transcript("$ kubectl %s\n%s[rc %d]\n" % (" ".join(args), done.stdout + done.stderr,
                                              done.returncode))
    if check and done.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), done.stderr))
    return done.stdout


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pack_yaml_version(path):
    import yaml
    with open(path) as f:
        return str(yaml.safe_load(f)["version"])


def next_version(version):
    major, minor, patch = (int(x) for x in version.split(".")[:3])
    return "%d.%d.%d" % (major, minor, patch + 1)


def execution_id(output):
    m = re.search(r"\bid:\s*([0-9a-f]{24})", output) or re.search(
        r"st2 execution get ([0-9a-f]{24})", output) or re.search(r"\b([0-9a-f]{24})\b", output)
    assert m, "no execution id in:\n" + output[-2000:]
    return m.group(1)


def wait_for(predicate, timeout=300, every=2.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def save(name, data):
    with open(os.path.join(RUN, name), "w") as f:
        json.dump(data, f, indent=1, default=str)
