"""lib.kube.clusters: named Kubernetes clusters and Consul agents in the pack config, beside the
flat single-cluster keys; and the clients built from them against two real API servers and
agents."""

import pytest
from hypothesis import given, settings, strategies as st

from lib.action import ConfigError
from lib.kube.clusters import cluster_names, consul_cluster_config, kube_cluster_config
from lib.stores.consul_kv import KV, address, client_from_config
from lib.kube.api import api_client_from_config

FLAT = {"kubeconfig": "/etc/kube/a", "kube_context": "a", "consul_host": "consul-a",
        "consul_port": 8501, "region": "eu-west-1"}
CONFIG = dict(FLAT, kube_clusters={
    "green": {"kubeconfig": "/etc/kube/green", "context": "green"},
    "blue": {"api_url": "https://blue:6443", "token": "t0k3n", "verify_ssl": False}},
    consul_clusters={"green": {"host": "consul-green", "port": 8500, "token": "c0nsul"}})


def test_the_default_cluster_is_the_flat_keys():
    assert kube_cluster_config(CONFIG, "") == (CONFIG, {})
    assert kube_cluster_config(CONFIG) == (CONFIG, {})
    assert consul_cluster_config(CONFIG, None) == (CONFIG, {})
    assert cluster_names(CONFIG, "kube") == ["", "blue", "green"]
    assert cluster_names(FLAT, "consul") == [""]


def test_a_named_cluster_under_the_flat_keys_with_its_own_labels():
    settings_, labels = kube_cluster_config(CONFIG, "blue")
    assert settings_ == {"kube_api_url": "https://blue:6443", "kube_token": "t0k3n",
                         "kube_verify_ssl": False}
    assert labels["kube_token"] == "kube_clusters.blue.token"
    assert kube_cluster_config(CONFIG, "green")[0] == {"kubeconfig": "/etc/kube/green",
                                                       "kube_context": "green"}
    assert consul_cluster_config(CONFIG, "green")[0] == {
        "consul_host": "consul-green", "consul_port": 8500, "consul_token": "c0nsul"}


@pytest.mark.parametrize("config, name, message", [
    (CONFIG, "gren", 'unknown Kubernetes cluster "gren": pack config key "kube_clusters" names '
                     '"blue", "green" (and "" is the default one of the flat keys); did you '
                     'mean "green"?'),
    (FLAT, "green", 'unknown Kubernetes cluster "green": pack config key "kube_clusters" names '
                    'none (and "" is the default one of the flat keys)'),
    (dict(FLAT, kube_clusters=["green"]), "green",
     'pack config key "kube_clusters" must be an object of Kubernetes clusters by name, got '
     'list'),
    (dict(FLAT, kube_clusters={"green": "a-kubeconfig"}), "green",
     'pack config key "kube_clusters.green" must be an object with api_url, ca_file, context, '
     'in_cluster, kubeconfig, token, verify_ssl, got str'),
    (dict(FLAT, kube_clusters={"green": {"kubeconfg": "/x"}}), "green",
     'pack config key "kube_clusters.green" has unknown field(s) kubeconfg; did you mean '
     '"kubeconfig"?; expected api_url, ca_file, context, in_cluster, kubeconfig, token, '
     'verify_ssl'),
    (dict(FLAT, kube_clusters={"green": {"verify_ssl": "no"}}), "green",
     'pack config key "kube_clusters.green.verify_ssl" must be of type bool, got str'),
    (CONFIG, 3, "a Kubernetes cluster name must be a string, got int"),
])
def test_kube_cluster_errors_name_the_key(config, name, message):
    with pytest.raises(ConfigError) as err:
        kube_cluster_config(config, name)
    assert str(err.value) == message


@pytest.mark.parametrize("entry, message", [
    ({"port": 8500}, 'pack config key "consul_clusters.green.host" is required (the agent\'s '
                     'host name or address)'),
    ({"host": "x", "port": True}, 'pack config key "consul_clusters.green.port" must be of '
                                  'type int, got bool'),
    ({"host": "x", "port": "8500"}, 'pack config key "consul_clusters.green.port" must be of '
                                    'type int, got str'),
])
def test_consul_cluster_errors_name_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        consul_cluster_config(dict(FLAT, consul_clusters={"green": entry}), "green")
    assert str(err.value) == message


def test_client_errors_name_the_named_clusters_keys(tmp_path):
    config = dict(FLAT, kube_clusters={"blue": {"api_url": "https://blue:6443"},
                                       "red": {"kubeconfig": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError) as err:
        api_client_from_config(config, cluster="blue")
    assert str(err.value).startswith('pack config key "kube_clusters.blue.token" is required '
                                     'when "kube_clusters.blue.api_url" is set')
    with pytest.raises(ConfigError) as err:
        api_client_from_config(config, cluster="red")
    assert str(err.value) == ('pack config key "kube_clusters.red.kubeconfig" names %r, which '
                              'is not a file' % str(tmp_path / "missing"))
    assert address(CONFIG, "green") == "http://consul-green:8500"
    assert address(CONFIG) == "http://consul-a:8501"


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                         st.integers(),
                                                                         max_size=2))


_FIELDS = st.sampled_from(["kubeconfig", "context", "api_url", "token", "ca_file",
                           "verify_ssl", "in_cluster", "host", "port", "bogus"])


@given(entry=st.one_of(_VALUES, st.dictionaries(_FIELDS, _VALUES, max_size=4)),
       name=st.text(min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_hostile_entries_are_refused_by_name_or_accepted(entry, name):
    """Whatever the entry holds, the answer is its settings or a ConfigError naming the key."""
    for kind, resolve in (("kube_clusters", kube_cluster_config),
                          ("consul_clusters", consul_cluster_config)):
        try:
            flat, labels = resolve({kind: {name: entry}}, name)
        except ConfigError as exc:
            assert '"%s' % kind in str(exc), str(exc)
        else:
            assert isinstance(flat, dict) and all(v not in (None, "") for v in flat.values())
            assert all(value.startswith("%s.%s." % (kind, name)) for value in labels.values())


@pytest.mark.integration
def test_clients_of_two_named_clusters_reach_two_servers(stack, stack_b, consul_prefix,
                                                         consul_client, consul_b_client):
    from kubernetes import client

    a, b = stack.require("kube", "consul"), stack_b.require("kube", "consul")
    config = {"kubeconfig": a["kube"]["kubeconfig"],
              "kube_clusters": {"b": {"kubeconfig": b["kube"]["kubeconfig"],
                                      "context": b["kube"]["context"]}},
              "consul_host": a["consul"]["host"], "consul_port": a["consul"]["port"],
              "consul_clusters": {"b": {"host": b["consul"]["host"],
                                        "port": b["consul"]["port"]}}}
    with api_client_from_config(config) as api_a, \
            api_client_from_config(config, cluster="b") as api_b:
        assert api_a.configuration.host == a["kube"]["server"]
        assert api_b.configuration.host == b["kube"]["server"]
        assert client.VersionApi(api_b).get_code().git_version.startswith("v1.20")
    key = consul_prefix + "where"
    assert KV(config, cluster="b").put(key, "b", cas=0)
    assert client_from_config(config).kv.get(key)[1] is None
    assert consul_b_client.kv.get(key)[1]["Value"] == b"b"
    consul_b_client.kv.delete(key)
