"""StackStorm's st2api and st2auth, in this process, with RBAC on: for the opt-in probes.

Builds an st2.conf from the pack's st2/st2.conf.ldap.example ([auth] and [rbac] as shipped, LDAP
address replaced by the caller's), registers the aws pack and StackStorm's core pack with st2's
own registrars, loads rbac/roles and rbac/mappings with st2-apply-rbac-definitions' own loader and
syncer, and serves st2api and st2auth through webtest. MongoDB is mongomock (no MongoDB server
installs here); everything else is StackStorm's code: the router's x-permissions checks, the
controllers, st2-rbac-backend's resolvers and syncer, st2-auth-ldap.

Only importable inside StackStorm's virtualenv (st2api, st2auth, st2rbac_backend, mongomock,
webtest). Each probe runs in a process of its own: st2's configuration is process-global.
"""

import base64
import json
import os
import shutil

import mongomock
import mongoengine
import mongoengine.connection as me_conn

_original_connect = me_conn.connect


def _mongomock_connect(db=None, alias=me_conn.DEFAULT_CONNECTION_NAME, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if k in ("host", "port", "tz_aware")}
    return _original_connect(db, alias=alias, mongo_client_class=mongomock.MongoClient, **kwargs)


me_conn.connect = mongoengine.connect = _mongomock_connect

import st2common  # noqa: E402

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(PACK_DIR, "st2", "st2.conf.ldap.example")
ST2_SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(st2common.__file__))))
CONTRIB = os.path.join(ST2_SRC, "contrib")


def example_sections():
    """The [auth] and [rbac] sections of the example, as text (comments kept)."""
    with open(EXAMPLE) as handle:
        text = handle.read()
    return text[text.index("[auth]"):]


def write_conf(folder, auth_and_rbac):
    base = os.path.join(folder, "base")
    packs = os.path.join(folder, "packs")
    os.makedirs(os.path.join(base, "configs"), exist_ok=True)
    os.makedirs(packs, exist_ok=True)
    if not os.path.exists(os.path.join(packs, "aws")):
        os.symlink(PACK_DIR, os.path.join(packs, "aws"))
    for kind in ("roles", "mappings", "assignments"):
        target = os.path.join(base, "rbac", kind)
        shutil.rmtree(target, ignore_errors=True)
        source = os.path.join(PACK_DIR, "rbac", kind)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            os.makedirs(target)
    # the pack's config as `st2 pack config` would write it: the shipped example
    shutil.copy(os.path.join(PACK_DIR, "aws.yaml.example"),
                os.path.join(base, "configs", "aws.yaml"))
    conf = os.path.join(folder, "st2.conf")
    with open(conf, "w") as handle:
        handle.write("\n".join([
            "[database]", "db_name = st2-probe",
            "[messaging]", "url = memory://",
            "[coordination]", "url =",
            "[system]", "base_path = %s" % base,
            "[content]", "system_packs_base_path = %s" % CONTRIB,
            "packs_base_paths = %s" % packs,
            "[log]", "excludes = requests,paramiko", "redirect_stderr = False",
            "mask_secrets = True",
            "[system_user]", "user = stanley",
            "", ""]))
        handle.write(auth_and_rbac)
    return conf


def ldap_sections(host, port, bind_password_in_conf, **overrides):
    """The example's [auth]/[rbac] pointed at a local slapd (plain LDAP on 127.0.0.1).

    `bind_password_in_conf` is written into the JSON as given (so a test can write `$` or `$$`).
    """
    text = example_sections()
    start = text.index("backend_kwargs = ") + len("backend_kwargs = ")
    end = text.index("\n", start)
    kwargs = json.loads(text[start:end])
    kwargs.update({"host": host, "port": port, "use_ssl": False, "use_tls": False})
    kwargs.pop("cacert", None)
    kwargs.update(overrides)
    kwargs["bind_password"] = "@BIND_PASSWORD@"
    line = json.dumps(kwargs).replace("@BIND_PASSWORD@", bind_password_in_conf)
    return text[:start] + line + text[end:]


class St2:
    """st2api + st2auth apps on one configuration and one (mongomock) database."""

    def __init__(self, conf):
        import sys
        from oslo_config import cfg
        from st2common.content import bootstrap
        from st2common.bootstrap import runnersregistrar, actionsregistrar

        # st2api's, st2auth's and st2stream's options (some are CLI options: before parsing)
        from st2api import config as st2api_config
        from st2auth import config as st2auth_config
        from st2stream import config as st2stream_config
        for module in (st2api_config, st2auth_config, st2stream_config):
            module.register_opts(ignore_errors=True)

        sys.argv = [sys.argv[0], "--config-file", conf, "--register-fail-on-failure",
                    "--register-runner-dir", os.path.join(CONTRIB, "runners")]
        bootstrap.setup(sys.argv[1:])
        runnersregistrar.register_runners()
        actionsregistrar.register_actions(pack_dir=os.path.join(CONTRIB, "core"),
                                          fail_on_failure=True)
        cfg.CONF.set_override("all", True, group="register")
        cfg.CONF.set_override("pack", os.path.join(os.path.dirname(conf), "packs", "aws"),
                              group="register")
        bootstrap.register_content()
        self.cfg = cfg

        from st2common.rbac.migrations import run_all
        run_all()  # the system roles (admin, observer, system_admin), as st2api does at start
        self.apply_rbac_definitions()

        import webtest
        from st2api import app as api_app
        self.api = webtest.TestApp(api_app.setup_app())
        self._auth = None

    @property
    def auth(self):
        if self._auth is None:
            import webtest
            from st2auth import app as auth_app
            self._auth = webtest.TestApp(auth_app.setup_app())
        return self._auth

    def apply_rbac_definitions(self):
        """What st2-apply-rbac-definitions does (st2rbac_backend/cmd/apply_rbac_definitions.py)."""
        from st2rbac_backend.loader import RBACDefinitionsLoader
        from st2rbac_backend.syncer import RBACDefinitionsDBSyncer
        result = RBACDefinitionsLoader().load()
        RBACDefinitionsDBSyncer().sync(
            role_definition_apis=list(result["roles"].values()),
            role_assignment_apis=list(result["role_assignments"].values()),
            group_to_role_map_apis=list(result["group_to_role_maps"].values()))
        return result

    # --- users ---------------------------------------------------------------------------

    def token_for(self, username, groups=None):
        """A token for `username`; with `groups`, remote roles synchronised from those group DNs
        by st2-rbac-backend's syncer, as st2auth does at sign-in."""
        from st2common.services.access import create_token
        from st2common.models.db.auth import UserDB
        from st2common.rbac.backends import get_rbac_backend
        token = create_token(username=username)
        if groups is not None:
            get_rbac_backend().get_remote_group_to_role_syncer().sync(
                user_db=UserDB(name=username), groups=list(groups))
        return token.token

    def roles_of(self, username):
        from st2common.models.db.auth import UserDB
        from st2rbac_backend.service import RBACService
        return sorted(r.name for r in RBACService.get_roles_for_user(UserDB(name=username)))

    def sign_in(self, username, password):
        """POST /auth/v1/tokens with HTTP basic auth, as `st2 login` does. (status, token)."""
        header = base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
        response = self.auth.post_json("/v1/tokens", {}, headers={
            "Authorization": "Basic " + header}, expect_errors=True)
        token = response.json.get("token") if response.status_int == 201 else None
        return response.status_int, token

    def request(self, token, method, path, body=None):
        headers = {"X-Auth-Token": token}
        if method == "GET":
            response = self.api.get(path, headers=headers, expect_errors=True)
        elif method == "DELETE":
            response = self.api.delete(path, headers=headers, expect_errors=True)
        else:
            call = getattr(self.api, method.lower() + "_json")
            response = call(path, body if body is not None else {}, headers=headers,
                            expect_errors=True)
        return response
