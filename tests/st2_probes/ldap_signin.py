"""Sign-in through st2auth + st2-auth-ldap against a real slapd, roles from rbac/mappings.

usage: python -m tests.st2_probes.ldap_signin WORKDIR CACHE_TTL   (StackStorm's virtualenv)
       CACHE_TTL 0: st2-auth-ldap's group cache off, as the example ships; otherwise on
       (st2-auth-ldap's default), with that TTL in seconds (short, to wait it out).

Starts slapd (tests/ldap_server.py) in WORKDIR on a free 127.0.0.1 port, writes st2.conf from
st2/st2.conf.ldap.example (LDAP address replaced; the bind password, which holds a `$`, written
`$$` as the example says), and signs users in with POST /auth/v1/tokens (HTTP basic), as
`st2 login` does. Then moves them between groups with LDAP modifications and signs in again.
Prints JSON: a list of steps {"step", "status", "roles", "packs_aws", "configs"...}.
"""

import json
import logging
import os
import sys
import time

from tests import ldap_server
from tests.st2_probes import st2_app

BIND_PASSWORD = "b1nd$ecret"          # a `$` in it: st2.conf must say b1nd$$ecret
GROUPS = ("app-teams", "dbaas-admins", "st2-admins")


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main(workdir, cache_ttl):
    os.makedirs(workdir, exist_ok=True)
    server = ldap_server.LdapServer(os.path.join(workdir, "ldap"))
    os.makedirs(server.folder, exist_ok=True)
    server.start(bind_password=BIND_PASSWORD)
    steps = []
    try:
        if cache_ttl:
            overrides = {"cache_user_groups_response": True,
                         "cache_user_groups_cache_ttl": cache_ttl}
        else:
            overrides = {"cache_user_groups_response": False}
        sections = st2_app.ldap_sections("127.0.0.1", server.port,
                                         BIND_PASSWORD.replace("$", "$$"), **overrides)
        conf = st2_app.write_conf(os.path.join(workdir, "st2"), sections)
        recorder = Recorder()
        logging.getLogger("st2auth_ldap").addHandler(recorder)
        logging.getLogger("st2auth_ldap").setLevel(logging.DEBUG)
        st2 = st2_app.St2(conf)
        for uid in ("alice", "carol"):
            server.add_user(uid, uid + "-password")
        # the directory spells this group's DN in another case than group_dns and the mapping
        server.set_groups("carol", ["ST2-Admins"], ["ST2-Admins"])
        server.set_groups("alice", ["app-teams"], GROUPS)

        def step(name, user, password=None, token=None):
            entry = {"step": name, "user": user, "t": round(time.monotonic() - start, 2)}
            if password is not None:
                del recorder.messages[:]
                status, token = st2.sign_in(user, password)
                entry["status"] = status
                entry["log"] = [m for m in recorder.messages if "Unable" in m or "Failed" in m]
            entry["roles"] = st2.roles_of(user)
            if token:
                entry["token"] = "new" if password is not None else "earlier"
                for path in ("/v1/packs/aws", "/v1/keys/vault_token?decrypt=true"):
                    entry[path] = st2.request(token, "GET", path).status_int
            steps.append(entry)
            return token

        start = time.monotonic()
        step("wrong password", "alice", "not-her-password")
        first = step("in app-teams", "alice", "alice-password")
        server.set_groups("alice", ["dbaas-admins"], GROUPS)
        step("moved to dbaas-admins, at once", "alice", "alice-password")
        if cache_ttl:
            time.sleep(cache_ttl + 0.5)
        step("moved to dbaas-admins, after the cache TTL", "alice", "alice-password")
        server.set_groups("alice", [], GROUPS)
        step("removed from every group, at once", "alice", "alice-password")
        if cache_ttl:
            time.sleep(cache_ttl + 0.5)
        step("removed from every group, after the cache TTL", "alice", "alice-password")
        step("token issued while in app-teams", "alice", token=first)
        step("member of cn=ST2-Admins (the mapping says cn=st2-admins)", "carol",
             "carol-password")
        extra = {
            "assignments_seen_by_alice": assignments(st2, first, "alice"),
            "assignments_of_alice_seen_by_carol": assignments(st2, st2.sign_in(
                "carol", "carol-password")[1], "alice"),
            "collections": collection_names(),
            "backend_error": backend_error(st2),
        }
        cut_off("alice")
        step("after deleting alice's remote assignments and tokens in MongoDB", "alice",
             token=first)
        steps[-1]["/v1/packs"] = st2.request(first, "GET", "/v1/packs").status_int
    finally:
        server.stop()
    json.dump({"steps": steps, "extra": extra}, sys.stdout)


def assignments(st2, token, user):
    response = st2.request(token, "GET", "/v1/rbac/role_assignments?user=" + user)
    if response.status_int != 200:
        return response.status_int
    return [{k: a.get(k) for k in ("user", "role", "is_remote", "source")} for a in response.json]


def collection_names():
    """The MongoDB collections docs/access.md tells operators to delete from."""
    from st2common.models.db.auth import TokenDB
    from st2common.models.db.rbac import UserRoleAssignmentDB
    return {"TokenDB": TokenDB._get_collection_name(),
            "UserRoleAssignmentDB": UserRoleAssignmentDB._get_collection_name()}


def cut_off(user):
    """docs/access.md: deleteMany on user_role_assignment_d_b and token_d_b, as mongosh would."""
    from st2common.models.db.auth import TokenDB
    from st2common.models.db.rbac import UserRoleAssignmentDB
    database = TokenDB._get_db()
    database["user_role_assignment_d_b"].delete_many({"user": user, "is_remote": True})
    database["token_d_b"].delete_many({"user": user})
    assert UserRoleAssignmentDB._get_collection_name() == "user_role_assignment_d_b"


def backend_error(st2):
    """What st2auth says when it cannot create the backend (a cacert that does not exist)."""
    from st2auth.backends import get_backend_instance
    kwargs = json.loads(st2.cfg.CONF.auth.backend_kwargs)
    kwargs["cacert"] = "/nonexistent/ca.pem"
    # (set_override values are oslo.config templates too: no bare `$`)
    st2.cfg.CONF.set_override("backend_kwargs", json.dumps(kwargs).replace("$", "\\u0024"),
                              group="auth")
    try:
        get_backend_instance("ldap")
        return None
    except Exception as error:
        return str(error)
    finally:
        st2.cfg.CONF.clear_override("backend_kwargs", group="auth")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
