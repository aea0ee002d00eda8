#!/usr/bin/env python3
"""Write the LDAP bind password into st2.conf's [auth] backend_kwargs, escaped for StackStorm.

usage: python3 st2/render_auth_conf.py ST2_CONF < password_file > rendered_st2_conf

ST2_CONF is your st2.conf with the [auth] section of st2/st2.conf.ldap.example merged in (its
`"bind_password": "<from your secret store>"` placeholder, or an earlier password, is replaced).
The password is read from standard input (one trailing newline dropped), never from the command
line, where other users of the host could see it in the process list.

Why not paste it: StackStorm reads st2.conf with oslo.config, which treats `$name` and `${name}`
in any value as a reference to another option: a `$` in the password makes st2auth fail to start
("no such option") or, worse, silently replaces part of the password with another option's
value (`$host` becomes st2auth's listen address). oslo.config reads `$$` as `$`, but also reads
`\\$` as `$$`, which breaks a password holding a backslash before a `$`. This script writes the
password as a JSON string with every `$` as `\\u0024` (JSON's escape for `$`), so the file holds
no `$` at all and json.loads returns the password exactly. Only the bind_password string of the
backend_kwargs line changes; the rest of the file is copied as it is.
"""

import json
import re
import sys

KWARGS_LINE = re.compile(r"^(backend_kwargs\s*[=:]\s*)(\{.*\})\s*$")
PASSWORD = re.compile(r'("bind_password"\s*:\s*)"(?:[^"\\]|\\.)*"')


def escape(password):
    """The JSON string literal for `password`, holding no `$` (nor any non-ASCII character)."""
    return json.dumps(password, ensure_ascii=True).replace("$", "\\u0024")


def render(conf_text, password):
    if not password:
        raise ValueError("the bind password is empty (st2-auth-ldap refuses an empty one)")
    out, section, done = [], None, False
    for line in conf_text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
        match = KWARGS_LINE.match(line.rstrip("\r\n"))
        if section == "auth" and match and not done:
            kwargs_text = match.group(2)
            new, count = PASSWORD.subn(lambda m: m.group(1) + escape(password), kwargs_text)
            if count != 1:
                raise ValueError('[auth] backend_kwargs has no "bind_password" string to replace')
            ending = line[len(line.rstrip("\r\n")):]
            line = match.group(1) + new + ending
            done = True
        out.append(line)
    if not done:
        raise ValueError("no one-line `backend_kwargs = {...}` in the [auth] section")
    return "".join(out)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    password = sys.stdin.read()
    if password.endswith("\n"):
        password = password[:-1]
    with open(argv[1], encoding="utf-8") as handle:
        conf_text = handle.read()
    try:
        sys.stdout.write(render(conf_text, password))
    except ValueError as error:
        sys.stderr.write("render_auth_conf: %s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
