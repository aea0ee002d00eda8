"""The README's generated tables match the pack's metadata, and the check notices drift."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(PACK_DIR, "scripts", "gen_docs.py")

_spec = importlib.util.spec_from_file_location("gen_docs", SCRIPT)
gen_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_docs)


def test_readme_is_up_to_date():
    ok, diff = gen_docs.check(PACK_DIR)
    assert ok, "README.md is stale: run scripts/gen_docs.py\n" + diff


@pytest.fixture
def pack_copy(tmp_path):
    """The README, config schema and action metadata copied to tmp_path, README regenerated."""
    shutil.copy(os.path.join(PACK_DIR, "README.md"), tmp_path)
    shutil.copy(os.path.join(PACK_DIR, "config.schema.yaml"), tmp_path)
    (tmp_path / "actions").mkdir()
    for name in os.listdir(os.path.join(PACK_DIR, "actions")):
        if name.endswith(".yaml"):
            shutil.copy(os.path.join(PACK_DIR, "actions", name), tmp_path / "actions")
    (tmp_path / "actions" / "zz_docs_probe.yaml").write_text(yaml.safe_dump({
        "name": "zz_docs_probe", "runner_type": "python-script", "entry_point": "zz.py",
        "enabled": True, "description": "Probe action.",
        "parameters": {"size": {"type": "integer", "description": "Size.", "default": 3}},
    }))
    assert gen_docs.main(["--pack-dir", str(tmp_path)]) == 0
    assert gen_docs.check(str(tmp_path)) == (True, "")
    return tmp_path


def edit_yaml(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_check_fails_when_an_action_description_changes(pack_copy):
    edit_yaml(pack_copy / "actions" / "zz_docs_probe.yaml",
              lambda m: m.update(description="Probe action, reworded."))
    ok, diff = gen_docs.check(str(pack_copy))
    assert not ok
    assert ("-| [`aws.zz_docs_probe`](#awszz_docs_probe) | python-script | Probe action. |"
            in diff.splitlines())
    assert ("+| [`aws.zz_docs_probe`](#awszz_docs_probe) | python-script | "
            "Probe action, reworded. |" in diff.splitlines())


def test_check_fails_when_a_parameter_default_changes(pack_copy):
    edit_yaml(pack_copy / "actions" / "zz_docs_probe.yaml",
              lambda m: m["parameters"]["size"].update(default=4))
    ok, diff = gen_docs.check(str(pack_copy))
    assert not ok
    assert [line for line in diff.splitlines() if line[:2] in ("-|", "+|")] == [
        "-| `size` | integer | `3` | no | no |  | Size. |",
        "+| `size` | integer | `4` | no | no |  | Size. |",
    ]


def test_check_fails_when_a_config_key_changes(pack_copy):
    edit_yaml(pack_copy / "config.schema.yaml",
              lambda s: s["region"].update(default="eu-west-1"))
    ok, diff = gen_docs.check(str(pack_copy))
    assert not ok
    assert "+| `region` | string | `eu-west-1` | yes | no | " in diff


def test_check_command_exits_1_and_prints_the_diff(pack_copy):
    os.remove(pack_copy / "actions" / "zz_docs_probe.yaml")
    run = subprocess.run([sys.executable, SCRIPT, "--check", "--pack-dir", str(pack_copy)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "-### aws.zz_docs_probe" in run.stdout.splitlines()
    assert run.stderr == "README.md is stale: run scripts/gen_docs.py and commit it\n"
    # writing brings it back in line, touching nothing outside the markers
    before = (pack_copy / "README.md").read_text()
    run = subprocess.run([sys.executable, SCRIPT, "--pack-dir", str(pack_copy)],
                         capture_output=True, text=True, check=True)
    assert run.stdout == "README.md updated\n"
    after = (pack_copy / "README.md").read_text()
    assert after.split("<!-- BEGIN GENERATED: config -->")[0] == \
        before.split("<!-- BEGIN GENERATED: config -->")[0]
    assert after.split("<!-- END GENERATED: actions -->")[1] == \
        before.split("<!-- END GENERATED: actions -->")[1]
    assert subprocess.run([sys.executable, SCRIPT, "--check", "--pack-dir", str(pack_copy)],
                          check=False).returncode == 0


def test_missing_marker_is_named(pack_copy):
    readme = pack_copy / "README.md"
    readme.write_text(readme.read_text().replace("<!-- END GENERATED: actions -->", ""))
    with pytest.raises(gen_docs.DocsError) as err:
        gen_docs.check(str(pack_copy))
    assert str(err.value) == (
        "%s: expected the markers <!-- BEGIN GENERATED: actions --> and "
        "<!-- END GENERATED: actions -->, in that order" % (pack_copy / "README.md"))


def test_render_config_sorted_escaped_and_complete():
    schema = {
        "zeta": {"type": "string", "description": "Pipe | inside.", "secret": True},
        "alpha": {"type": "array", "items": {"type": "string"}, "default": ["a"],
                  "description": "List.\n  Two lines.", "required": True},
        "mode": {"type": "string", "enum": ["x", "y"], "default": "x", "description": "Mode."},
    }
    assert gen_docs.render_config(schema).splitlines() == [
        "| key | type | default | required | secret | description |",
        "|---|---|---|---|---|---|",
        '| `alpha` | array of string | `["a"]` | yes | no | List. Two lines. |',
        "| `mode` | string | `x` | no | no | Mode. One of: `x`, `y`. |",
        "| `zeta` | string |  | no | yes | Pipe \\| inside. |",
    ]


def test_render_config_has_a_row_per_field_of_entries_and_items():
    schema = {
        "clusters": {"type": "object", "default": {}, "description": "By name.",
                     "additionalProperties": {"type": "object", "properties": {
                         "token": {"type": "string", "secret": True, "description": "T."},
                         "host": {"type": "string", "description": "H."}}}},
        "pairs": {"type": "array", "default": [], "description": "Pairs.",
                  "items": {"type": "object", "properties": {
                      "target": {"type": "string", "required": True, "description": "To."}}}},
    }
    assert gen_docs.render_config(schema).splitlines()[2:] == [
        "| `clusters` | object | `{}` | no | no | By name. |",
        "| `clusters.<name>.host` | string |  | no | no | H. |",
        "| `clusters.<name>.token` | string |  | no | yes | T. |",
        "| `pairs` | array of object | `[]` | no | no | Pairs. |",
        "| `pairs[].target` | string |  | yes | no | To. |",
    ]


def test_render_actions_sorts_actions_and_parameters():
    actions = [
        {"name": "b_act", "runner_type": "orquesta", "description": "B.", "parameters": {}},
        {"name": "a_act", "runner_type": "python-script", "description": "A.", "parameters": {
            "zed": {"type": "string", "description": "Z.", "default": ""},
            "beta": {"type": "string", "description": "Second.", "required": True,
                     "position": 1},
            "alpha": {"type": "string", "description": "First.", "required": True,
                      "position": 0},
            "key": {"type": "string", "description": "K.", "secret": True, "required": False},
            "mode": {"type": "string", "description": "M.", "enum": ["on", "off"],
                     "default": "on"},
        }},
    ]
    assert gen_docs.render_actions(actions).splitlines() == [
        gen_docs.LEGEND,
        "",
        "| action | runner | description |",
        "|---|---|---|",
        "| [`aws.a_act`](#awsa_act) | python-script | A. |",
        "| [`aws.b_act`](#awsb_act) | orquesta | B. |",
        "",
        "### aws.a_act",
        "",
        "A.",
        "",
        "| parameter | type | default | required | secret | enum | description |",
        "|---|---|---|---|---|---|---|",
        "| `alpha` | string |  | yes | no |  | First. |",
        "| `beta` | string |  | yes | no |  | Second. |",
        "| `key` | string |  | no | yes |  | K. |",
        "| `mode` | string | `on` | no | no | `on`, `off` | M. |",
        '| `zed` | string | `""` | no | no |  | Z. |',
        "",
        "### aws.b_act",
        "",
        "B.",
        "",
        "No parameters.",
    ]
