"""The pack's RBAC files, its LDAP example and the role table of docs/access.md, as data.

Shared by tests/test_rbac.py and tests/test_rbac_platform.py (CI), tests/test_rbac_st2.py
(StackStorm itself) and the probes in tests/st2_probes/.
"""

import functools
import glob
import json
import os
import re

import yaml

from tests import st2_conf

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RBAC_DIR = os.path.join(PACK_DIR, "rbac")
DOCS = os.path.join(PACK_DIR, "docs", "access.md")
LDAP_EXAMPLE = os.path.join(PACK_DIR, "st2", "st2.conf.ldap.example")
PERMISSION_TYPES_FILE = os.path.join(PACK_DIR, "tests", "fixtures", "st2_permission_types.txt")
SYSTEM_ROLES = {"system_admin", "admin", "observer"}  # st2common/rbac/types.py SystemRole
RENDERER = os.path.join(PACK_DIR, "st2", "render_auth_conf.py")
# st2auth_ldap/ldap_backend.py LDAPAuthenticationBackend.__init__ (StackStorm/st2-auth-ldap
# b0bdcf1e6ca11cf9c8541f09961fb32ee0690493): the arguments without a default, and the defaults
# of the others (tests/test_rbac_st2.py compares both with the installed st2-auth-ldap).
LDAP_REQUIRED = {"bind_dn", "bind_password", "base_ou", "group_dns", "host"}
LDAP_DEFAULTS = {
    "port": 389, "scope": "subtree", "id_attr": None, "account_pattern": "",
    "group_pattern": "", "use_ssl": False, "use_tls": False, "cacert": None,
    "network_timeout": 10.0, "chase_referrals": False, "debug": False, "client_options": None,
    "group_dns_check": "and", "cache_user_groups_response": True,
    "cache_user_groups_cache_ttl": 120, "cache_user_groups_cache_max_size": 100,
    "base_ou_group": None}
LDAP_ACCEPTED = LDAP_REQUIRED | set(LDAP_DEFAULTS)


def load_permission_types(path=PERMISSION_TYPES_FILE):
    """{resource type or "global": {permission types}} from the fixture."""
    table = {}
    with open(path) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                resource_type, permission_type = line.split()
                table.setdefault(resource_type, set()).add(permission_type)
    return table


def load_yaml_files(folder):
    result = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
        with open(path) as handle:
            result[os.path.relpath(path, PACK_DIR)] = yaml.safe_load(handle)
    return result


PERMISSION_TYPES = load_permission_types()
ROLES = load_yaml_files(os.path.join(RBAC_DIR, "roles"))
MAPPINGS = load_yaml_files(os.path.join(RBAC_DIR, "mappings"))


def role_named(name):
    [role] = [r for r in ROLES.values() if r.get("name") == name]
    return role


def pack_actions():
    """Names of the pack's actions (actions/*.yaml)."""
    return {os.path.splitext(os.path.basename(p))[0]
            for p in glob.glob(os.path.join(PACK_DIR, "actions", "*.yaml"))}


def workflow_calls(action_name, seen=None):
    """(action, input) of every task of a workflow action, nested workflows included."""
    seen = set() if seen is None else seen
    if action_name in seen:
        return []
    seen.add(action_name)
    with open(os.path.join(PACK_DIR, "actions", action_name + ".yaml")) as f:
        meta = yaml.safe_load(f)
    if meta["runner_type"] != "orquesta":
        return []
    with open(os.path.join(PACK_DIR, "actions", meta["entry_point"])) as f:
        workflow = yaml.safe_load(f)
    calls = []
    for task in (workflow.get("tasks") or {}).values():
        ref = task.get("action") or ""
        if ref.startswith("aws."):
            calls.append((ref[4:], task.get("input") or {}))
            calls += workflow_calls(ref[4:], seen)
        elif ref:
            calls.append((ref, task.get("input") or {}))
    return calls


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def ldap_sections(path=LDAP_EXAMPLE):
    """The example as StackStorm reads it (oslo.config's rules, tests/st2_conf.py)."""
    return st2_conf.parse(read(path))


def ldap_kwargs(path=LDAP_EXAMPLE):
    return json.loads(st2_conf.value(read(path), "auth", "backend_kwargs"))


# --- the table of docs/access.md section 3 --------------------------------------------------

ROLE_COLUMNS = {
    "`dbaas_self_service`": ("dbaas_self_service", None),
    "`dbaas_admin`": ("dbaas_admin", None),
    "`k8s_platform_admin`": ("k8s_platform_admin", None),
    "built-in `admin`": (None, "admin"),
    "built-in `observer`": (None, "observer"),
}


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def docs_role_table(text=None):
    """[(what, [request, ...], {column: (pack role, system role, "yes"/"no")})] of the table
    whose second column is `requests`; [] if there is none."""
    text = read(DOCS) if text is None else text
    lines = text.splitlines()
    rows = []
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        header = _cells(line)
        if len(header) < 3 or header[1] != "requests":
            continue
        columns = []
        for title in header[2:]:
            key = next((k for k in ROLE_COLUMNS if title.startswith(k)), None)
            if key is None:
                raise ValueError("docs/access.md role table: unknown column %r" % title)
            columns.append((title, ROLE_COLUMNS[key]))
        for row in lines[index + 2:]:
            if not row.startswith("|"):
                break
            cells = _cells(row)
            if len(cells) != len(header):
                raise ValueError("docs/access.md role table: %d cells in %r" % (len(cells), row))
            requests = re.findall(r"`([^`]+)`", cells[1])
            answers = {}
            for (title, (role, system_role)), cell in zip(columns, cells[2:]):
                answers[title] = (role, system_role, cell)
            rows.append((cells[0], requests, answers))
        break
    return rows


@functools.lru_cache(maxsize=None)
def load_renderer():
    """st2/render_auth_conf.py as a module (it is a script, not a package module), loaded once
    (the property tests call it for every example)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("render_auth_conf", RENDERER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def passwords():
    """hypothesis strategy: anything a secret store may hold, with the characters that matter to
    st2.conf and JSON made likely."""
    from hypothesis import strategies as st
    return st.text(alphabet=st.one_of(st.sampled_from('$\\"{}#;%=: \t\n\'.'), st.characters(
        blacklist_categories=("Cs",))), min_size=1, max_size=40)
