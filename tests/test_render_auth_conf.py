"""st2/render_auth_conf.py and the `$` rule of st2.conf (oslo.config, tests/st2_conf.py).

StackStorm reads st2.conf with oslo.config, which substitutes `$name`/`${name}` in every value:
a bind password pasted into backend_kwargs with a `$` stops st2auth or silently changes. The
renderer writes it so that oslo.config and json.loads give it back exactly. tests/test_rbac_st2.py
checks tests/st2_conf.py against oslo.config itself.
"""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings

from tests import st2_conf
from tests.rbac_files import (
    DOCS, LDAP_EXAMPLE, RENDERER as SCRIPT, ldap_kwargs, load_renderer, passwords, read)


def password_as_st2auth_gets_it(conf_text):
    return json.loads(st2_conf.value(conf_text, "auth", "backend_kwargs"))["bind_password"]


PASSWORDS = passwords()


def test_example_values_survive_oslo_substitution():
    """Every value of the example reads back as written: no `$` that oslo.config would take."""
    for section, values in st2_conf.parse(read(LDAP_EXAMPLE)).items():
        for key, raw in values.items():
            assert st2_conf.substitute(raw) == raw, (section, key)


@pytest.mark.parametrize("pasted, outcome", [
    ("b1nd$ecret", "substitutes $ecret"),       # st2auth: NoSuchOptError, no such option ecret
    ("pa$host", "substitutes $host"),           # silently st2auth's [auth] host
    ("pa${auth.port}", "substitutes $auth.port"),
    ("b1nd$$ecret", "b1nd$ecret"),
    ("cost 5$", "cost 5$"),                      # `$` not followed by a name stays
])
def test_a_dollar_pasted_into_the_example(pasted, outcome):
    text = read(LDAP_EXAMPLE).replace("<from your secret store>", pasted)
    try:
        got = password_as_st2auth_gets_it(text)
    except st2_conf.Substitution as error:
        got = "substitutes $" + error.name
    assert got == outcome


@pytest.mark.parametrize("password, failure", [
    ("a\\$1", json.JSONDecodeError),        # comes back as the invalid JSON escape \$
    ("a\\$b", st2_conf.Substitution),       # comes back with $b substituted
])
def test_a_backslash_before_a_dollar_cannot_be_written_with_double_dollars(password, failure):
    r"""oslo.config reads `\$` as `$$` before substituting, so JSON-escaping the password and
    doubling its `$` does not give it back when a backslash precedes a `$`."""
    written = json.dumps(password)[1:-1].replace("$", "$$")
    text = read(LDAP_EXAMPLE).replace("<from your secret store>", written)
    with pytest.raises(failure):
        password_as_st2auth_gets_it(text)


@settings(max_examples=300, deadline=None)
@given(password=PASSWORDS)
def test_rendered_password_reaches_st2auth_unchanged(password):
    example = read(LDAP_EXAMPLE)
    rendered = load_renderer().render(example, password)
    assert "$" not in rendered.split("backend_kwargs", 1)[1].split("\n", 1)[0]
    assert password_as_st2auth_gets_it(rendered) == password
    before, after = ldap_kwargs(), json.loads(st2_conf.value(rendered, "auth", "backend_kwargs"))
    assert {k: v for k, v in after.items() if k != "bind_password"} == \
        {k: v for k, v in before.items() if k != "bind_password"}
    # only the backend_kwargs line changed
    changed = [(a, b) for a, b in zip(example.splitlines(), rendered.splitlines()) if a != b]
    assert len(example.splitlines()) == len(rendered.splitlines())
    assert [a.split(" =", 1)[0] for a, _ in changed] == ["backend_kwargs"]


@settings(max_examples=50, deadline=None)
@given(first=PASSWORDS, second=PASSWORDS)
def test_rendering_again_replaces_the_earlier_password(first, second):
    renderer = load_renderer()
    twice = renderer.render(renderer.render(read(LDAP_EXAMPLE), first), second)
    assert password_as_st2auth_gets_it(twice) == second


def test_render_refuses_what_it_cannot_do():
    renderer = load_renderer()
    with pytest.raises(ValueError, match="empty"):
        renderer.render(read(LDAP_EXAMPLE), "")
    with pytest.raises(ValueError, match="no one-line `backend_kwargs"):
        renderer.render("[auth]\nenable = True\n", "pw")
    with pytest.raises(ValueError, match="bind_password"):
        renderer.render('[auth]\nbackend_kwargs = {"bind_dn": "x"}\n', "pw")
    # backend_kwargs of another section is not touched
    with pytest.raises(ValueError, match="no one-line"):
        renderer.render('[other]\nbackend_kwargs = {"bind_password": "x"}\n', "pw")


def test_command_reads_the_password_from_stdin(tmp_path):
    conf = tmp_path / "st2.conf"
    conf.write_text(read(LDAP_EXAMPLE))
    done = subprocess.run([sys.executable, SCRIPT, str(conf)], input='p$a"s\\s\n',
                          capture_output=True, text=True, check=True)
    assert password_as_st2auth_gets_it(done.stdout) == 'p$a"s\\s'
    assert conf.read_text() == read(LDAP_EXAMPLE)   # the input file is left alone
    refused = subprocess.run([sys.executable, SCRIPT, str(conf)], input="\n",
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "empty" in refused.stderr
    usage = subprocess.run([sys.executable, SCRIPT], input="pw", capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_docs_and_example_tell_to_render_and_why():
    for path in (DOCS, LDAP_EXAMPLE):
        text = " ".join(read(path).split())
        assert "render_auth_conf.py /etc/st2/st2.conf < /run/secrets/ldap-bind" in text, path
        assert "`$$`" in text and "\\u0024" in text, path
