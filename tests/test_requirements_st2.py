"""The pack's requirements install into StackStorm's virtualenv without moving StackStorm's pins.

`st2 pack install` puts requirements.txt into the pack's virtualenv, but st2-run-pack-tests
(st2common/bin/st2-run-pack-tests) installs requirements.txt and requirements-tests.txt into the
virtualenv StackStorm itself runs from, with plain `pip install -r`. pip keeps an installed
package that satisfies a requirement and replaces one that does not, so a requirement that needs
a newer cryptography than StackStorm's pin replaces it, and StackStorm's pinned pyOpenSSL then
fails to import: every st2 import fails. (moto[server] did that: its joserfc wants a newer
cryptography.)

The test builds a virtualenv holding StackStorm's pins, asks pip what installing each
requirements file there would change (``--dry-run --report``, resolved against the package
registry) and fails if a pinned package would be replaced.
"""

import json
import os
import subprocess
import sys
import venv

import pytest

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# StackStorm's own pins (requirements.txt of StackStorm/st2 at master, checked 2026-11-29; the
# same cryptography/pyOpenSSL pair as v3.9) for what the pack's requirements could pull in.
ST2_PINS = {
    "cffi": "1.17.1",
    "cryptography": "43.0.3",
    "eventlet": "0.40.3",
    "greenlet": "3.1.1",
    "jinja2": "3.1.6",
    "jsonschema": "4.26.0",
    "pytest": "7.0.1",
    "python-dateutil": "2.9.0.post0",
    "pyyaml": "6.0.3",
    "requests": "2.32.4",
    "six": "1.17.0",
    "urllib3": "2.2.3",
}
ST2_RANGES = {"pyopenssl": "<25.2"}

pytestmark = pytest.mark.skipif(os.environ.get("ST2_PACK_OFFLINE") == "1",
                                reason="needs the package registry (ST2_PACK_OFFLINE=1)")


def _norm(name):
    return name.lower().replace("_", "-")


@pytest.fixture(scope="module")
def st2_like_venv(tmp_path_factory):
    """A virtualenv with StackStorm's pins installed (as pip sees StackStorm's own)."""
    path = tmp_path_factory.mktemp("st2-pins") / "venv"
    venv.EnvBuilder(with_pip=True).create(path)
    python = str(path / "bin" / "python")
    pins = ["%s==%s" % item for item in sorted(ST2_PINS.items())]
    pins += ["%s%s" % item for item in sorted(ST2_RANGES.items())]
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins],
                   check=True, capture_output=True, timeout=600)
    return python


def _would_install(python, requirements_file):
    out = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--dry-run",
         "--report", "-", "-r", requirements_file],
        check=True, capture_output=True, text=True, timeout=600, cwd=PACK_DIR)
    report = json.loads(out.stdout)
    return {_norm(item["metadata"]["name"]): item["metadata"]["version"]
            for item in report.get("install", [])}


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-tests.txt"])
def test_installing_keeps_stackstorms_pins(st2_like_venv, name):
    changes = _would_install(st2_like_venv, os.path.join(PACK_DIR, name))
    assert "boto3" in changes or name != "requirements.txt"  # pip did resolve something
    moved = {pkg: version for pkg, version in changes.items()
             if pkg in ST2_PINS or pkg in ST2_RANGES}
    assert moved == {}, ("installing %s into StackStorm's virtualenv would replace its pinned %s"
                         % (name, moved))


def test_the_pins_stand_for_stackstorm_where_it_is_installed():
    """Where StackStorm is importable, its installed versions are the pins written above."""
    pytest.importorskip("st2common.models.api.action")  # the real one, not the stand-in
    from importlib.metadata import version  # pylint: disable=import-outside-toplevel

    for package, pinned in ST2_PINS.items():
        if package in ("six",):
            continue
        assert version(package) == pinned, package
    assert sys.version_info >= (3, 8)
