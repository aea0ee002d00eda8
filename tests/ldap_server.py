"""A private OpenLDAP server (Debian's slapd) on 127.0.0.1, for the sign-in tests.

The directory holds what docs/access.md describes: people under ou=people, groupOfNames groups
under ou=groups (the DNs of rbac/mappings/*.yaml) and a read-only bind account. Used by
tests/test_ldap_st2.py (st2-auth-ldap against it) and by hand:

    python tests/ldap_server.py DIR PORT    # starts slapd in DIR, prints its URL, Ctrl-C stops

Needs `apt-get install slapd ldap-utils`; nothing here is a mock: slapd answers the binds,
searches and modifications.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SUFFIX = "dc=example,dc=com"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PASSWORD = "root-secret"
BIND_DN = "cn=st2-bind,ou=service-accounts," + SUFFIX
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


def slapd_binary():
    for candidate in (shutil.which("slapd"), "/usr/sbin/slapd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_dn(name):
    return "cn=%s,%s" % (name, GROUPS)


def user_dn(uid):
    return "uid=%s,%s" % (uid, PEOPLE)


class LdapServer:
    """slapd with an mdb database in `folder`, listening on ldap://127.0.0.1:port only."""

    def __init__(self, folder, port=None):
        self.folder = os.path.abspath(folder)
        self.port = port or free_port()
        self.url = "ldap://127.0.0.1:%d" % self.port
        self.process = None

    def start(self, bind_password, timeout=20.0):
        binary = slapd_binary()
        if not binary:
            raise RuntimeError("slapd is not installed (apt-get install slapd ldap-utils)")
        data = os.path.join(self.folder, "data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        conf = os.path.join(self.folder, "slapd.conf")
        lines = ["include /etc/ldap/schema/%s.schema" % s for s in SCHEMAS] + [
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            "pidfile %s" % os.path.join(self.folder, "slapd.pid"),
            "argsfile %s" % os.path.join(self.folder, "slapd.args"),
            "database mdb",
            "maxsize 10485760",
            'suffix "%s"' % SUFFIX,
            'rootdn "%s"' % ROOT_DN,
            "rootpw %s" % ROOT_PASSWORD,
            "directory %s" % data,
            "access to attrs=userPassword by anonymous auth by * none",
            "access to * by * read",
        ]
        with open(conf, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        log = open(os.path.join(self.folder, "slapd.log"), "wb")
        # -d 0: stay in the foreground (so the process is ours to stop), log nothing extra
        self.process = subprocess.Popen(
            [binary, "-f", conf, "-h", self.url + "/", "-d", "0"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                with open(os.path.join(self.folder, "slapd.log")) as handle:
                    raise RuntimeError("slapd exited: %s" % handle.read()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("slapd did not listen on %s" % self.url)
                time.sleep(0.1)
        self._load_directory(bind_password)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    # --- the directory -------------------------------------------------------------------

    def _admin(self):
        import ldap  # python-ldap: in StackStorm's virtualenv with st2-auth-ldap
        connection = ldap.initialize(self.url)
        connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return connection

    def _load_directory(self, bind_password):
        entries = [
            (SUFFIX, {"objectClass": ["top", "dcObject", "organization"],
                      "o": ["example"], "dc": ["example"]}),
            (PEOPLE, {"objectClass": ["organizationalUnit"], "ou": ["people"]}),
            (GROUPS, {"objectClass": ["organizationalUnit"], "ou": ["groups"]}),
            ("ou=service-accounts," + SUFFIX,
             {"objectClass": ["organizationalUnit"], "ou": ["service-accounts"]}),
            (BIND_DN, {"objectClass": ["simpleSecurityObject", "organizationalRole"],
                       "cn": ["st2-bind"], "userPassword": [bind_password]}),
        ]
        connection = self._admin()
        try:
            for dn, attrs in entries:
                connection.add_s(dn, _encode(attrs))
        finally:
            connection.unbind_s()

    def add_user(self, uid, password):
        connection = self._admin()
        try:
            connection.add_s(user_dn(uid), _encode({
                "objectClass": ["inetOrgPerson"], "uid": [uid], "cn": [uid], "sn": [uid],
                "userPassword": [password]}))
        finally:
            connection.unbind_s()

    def set_groups(self, uid, groups, all_groups):
        """Make `uid` a member of exactly `groups` among `all_groups` (created on first use).

        groupOfNames needs at least one member: a placeholder member keeps emptied groups valid.
        """
        import ldap
        placeholder = "cn=nobody," + SUFFIX
        connection = self._admin()
        try:
            for name in all_groups:
                dn = group_dn(name)
                found = connection.search_s(GROUPS, ldap.SCOPE_ONELEVEL, "(cn=%s)" % name,
                                            ["member"])
                members = set()
                if found:
                    members = {m.decode() for m in found[0][1].get("member", [])}
                wanted = set(members) | {placeholder}
                if name in groups:
                    wanted.add(user_dn(uid))
                else:
                    wanted.discard(user_dn(uid))
                if not found:
                    connection.add_s(dn, _encode({"objectClass": ["groupOfNames"],
                                                  "cn": [name], "member": sorted(wanted)}))
                elif wanted != members:
                    connection.modify_s(dn, [(ldap.MOD_REPLACE, "member",
                                              [m.encode() for m in sorted(wanted)])])
        finally:
            connection.unbind_s()


def _encode(attrs):
    return [(key, [v.encode() for v in values]) for key, values in attrs.items()]


if __name__ == "__main__":
    server = LdapServer(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
    server.start(bind_password=os.environ.get("BIND_PASSWORD", "bind-secret"))
    print(server.url, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
