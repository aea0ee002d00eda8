"""st2.conf read the way StackStorm reads it: oslo.config's file format and `$` substitution.

StackStorm parses /etc/st2/st2.conf with oslo.config (st2common/config.py parse_args). Two rules
of oslo.config matter for the LDAP example (oslo_config/iniparser.py, oslo_config/cfg.py
ConfigOpts._substitute; oslo.config 9.6, StackStorm's pin):

- the file: `[section]`, `key = value` or `key: value` (split at the first `=` or `:`), value
  stripped, a value quoted with the same quote at both ends loses them, lines that start with a
  space or tab continue the previous value, lines that start with `#` or `;` are comments; the
  last assignment of a key wins;
- every string value is a template: `$name`, `${name}` and `${group.name}` are replaced by the
  value of that option (an unknown name fails the whole lookup with NoSuchOptError), `$$` is a
  literal `$`, and `\\$` is read as `$$` first.

So a `$` in bind_password either breaks st2auth's start (`$ecret`: no such option) or silently
becomes another option's value (`$host` inside [auth]: st2auth's listen address), unless written
`$$` or, inside backend_kwargs' JSON, as `\\u0024`. tests/test_rbac_st2.py checks this module
against oslo.config itself on the same generated values.
"""

import string


class ParseError(ValueError):
    pass


class Substitution(ValueError):
    """The value names another option: oslo.config would substitute it (or fail)."""

    def __init__(self, name):
        super().__init__("oslo.config substitutes $%s in this value" % name)
        self.name = name


class _Template(string.Template):
    # oslo_config/cfg.py ConfigOpts.Template.idpattern; string.Template matches it ignoring case
    idpattern = r"[_a-z][\._a-z0-9]*"


class _Refuse:
    def __getitem__(self, name):
        raise Substitution(name)


def parse(text):
    """{section: {key: raw value}}, by oslo.config's file rules."""
    sections = {}
    section = None
    key = None
    value = []

    def flush():
        if key is not None:
            if section is None:
                raise ParseError("assignment before any [section]: %r" % key)
            sections[section][key] = "\n".join(value)

    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            flush()
            key, value = None, []
            continue
        if line.startswith((" ", "\t")):
            if key is None:
                raise ParseError("line %d: unexpected continuation" % number)
            value.append(line.lstrip())
            continue
        flush()
        key, value = None, []
        if line.startswith("["):
            if not line.endswith("]") or len(line) <= 2:
                raise ParseError("line %d: invalid section %r" % (number, line))
            section = line[1:-1]
            sections.setdefault(section, {})
        elif line.startswith(("#", ";")):
            continue
        else:
            colon, equal = line.find(":"), line.find("=")
            if colon < 0 and equal < 0:
                raise ParseError("line %d: no ':' or '=' in %r" % (number, line))
            at = equal if colon < 0 or 0 <= equal < colon else colon
            key, raw = line[:at].strip(), line[at + 1:].strip()
            if not key:
                raise ParseError("line %d: empty key" % number)
            if raw and raw[0] == raw[-1] and raw.startswith(("'", '"')):
                raw = raw[1:-1]
            value = [raw]
    flush()
    return sections


def substitute(raw):
    """The value oslo.config returns for a string option holding `raw`, when `raw` names no
    other option; raises Substitution when it does."""
    if "\\$" in raw:
        raw = raw.replace("\\$", "$$")
    return _Template(raw).safe_substitute(_Refuse())


def value(text, section, key):
    return substitute(parse(text)[section][key])
