"""lib/stores/kv_layout.py: each namespace owns a prefix of Vault paths and of Consul keys."""

import pytest
from hypothesis import given, settings, strategies as st

from lib.action import ConfigError
from lib.stores.kv_layout import Layout, parse_prefix

NAMESPACES = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
PREFIXES = st.sampled_from(["{namespace}/", "databases/{namespace}/", "t/{namespace}/db/",
                            "x.y/{namespace}/z-1/"])


def test_default_layout_confines_locations_under_the_namespace():
    layout = Layout()
    assert layout.default("vault", "team-a", "orders-db") == "team-a/orders-db"
    assert layout.default("consul", "team-a", "orders-db") == "team-a/orders-db/config"
    assert layout.problem("vault", "team-a/orders-db", "team-a") is None
    assert layout.problem("vault", "team-b/orders-db", "team-a") == (
        "spec.vault.path: 'team-b/orders-db' is outside the Vault paths of namespace team-a; "
        "expected a path under 'team-a/' (pack config vault_path_prefix)")
    assert layout.problem("consul", "databases/team-a/x", "team-a") == (
        "spec.consul.key: 'databases/team-a/x' is outside the Consul keys of namespace team-a; "
        "expected a path under 'team-a/' (pack config consul_key_prefix)")


def test_another_layout_from_the_pack_config():
    layout = Layout.from_config({"vault_path_prefix": "databases/{namespace}/",
                                 "consul_key_prefix": "apps/{namespace}/db/"})
    assert layout.default("vault", "team-a", "orders") == "databases/team-a/orders"
    assert layout.default("consul", "team-a", "orders") == "apps/team-a/db/orders/config"
    assert layout.problem("vault", "databases/team-a/x", "team-a") is None
    assert layout.problem("vault", "team-a/x", "team-a").endswith(
        "expected a path under 'databases/team-a/' (pack config vault_path_prefix)")
    assert Layout.from_config({"vault_path_prefix": ""}).templates["vault"] == "{namespace}/"
    with pytest.raises(ConfigError) as info:
        Layout.from_config({"consul_key_prefix": 5})
    assert str(info.value) == 'pack config key "consul_key_prefix" must be of type str, got int'


@pytest.mark.parametrize("value", [
    "shared/", "{namespace}", "{namespace}/{namespace}/", "a/{namespace}x/", "/{namespace}/",
    "../{namespace}/", "a b/{namespace}/", 5, ["{namespace}/"], "x" * 200 + "/{namespace}/"])
def test_a_layout_that_would_let_namespaces_overlap_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError) as info:
        parse_prefix("vault_path_prefix", value)
    assert str(info.value).startswith(
        'pack config key "vault_path_prefix": expected \'/\'-separated segments of letters, '
        "digits, '_', '.', '-' ending with '/', exactly one of them {namespace}")


@settings(max_examples=300, deadline=None)
@given(template=PREFIXES, first=NAMESPACES, second=NAMESPACES,
       tail=st.from_regex(r"\A[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,3}\Z"))
def test_no_namespace_can_claim_a_location_under_another(template, first, second, tail):
    layout = Layout(template, template)
    theirs = layout.prefix("vault", second) + tail
    allowed = layout.problem("vault", theirs, first) is None
    assert allowed == (first == second or theirs.startswith(layout.prefix("vault", first)))
    if first != second:
        assert not allowed, (first, second, theirs)
