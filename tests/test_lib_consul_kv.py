"""lib/stores/consul_kv.py: client from the pack config, owner parsing, errors naming the server."""

import pytest

from lib.stores.consul_kv import KV, ConsulError, address, client_from_config, owner_of
from tests.fixtures.database.support import closed_port, consul_config


def test_address_from_config_and_defaults():
    assert address({}) == "http://127.0.0.1:8500"
    assert address({"consul_scheme": "https", "consul_host": "consul", "consul_port": 8501}) == (
        "https://consul:8501")


@pytest.mark.parametrize("value,owner", [
    ('{"uid": "u1", "host": "h"}', "u1"), ('{"host": "h"}', None), ("plain", None),
    ("[1, 2]", None), ("", None), (None, None)])
def test_owner_of(value, owner):
    assert owner_of(value) == owner


def test_the_pack_configs_token_wins_over_the_environment(monkeypatch):
    # py-consul prefers $CONSUL_HTTP_TOKEN to the token it is given.
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "token-from-env")
    assert client_from_config({"consul_token": "token-from-config"}).token == "token-from-config"
    assert client_from_config({}).token == "token-from-env"  # none configured: env as fallback


def test_unreachable_agent_is_named():
    port = closed_port()
    with pytest.raises(ConsulError) as exc:
        KV({"consul_port": port}).put("k", "v", cas=0)
    assert str(exc.value) == ("Consul at http://127.0.0.1:%d (pack config consul_host/"
                              "consul_port) is unreachable while writing k: ConnectionError"
                              % port)


@pytest.mark.integration
def test_check_and_set(stack, consul_prefix):
    kv = KV(consul_config(stack))
    key = consul_prefix + "k"
    assert kv.get(key) is None
    assert kv.put(key, "v1", cas=0) is True
    assert kv.put(key, "v2", cas=0) is False
    value, index = kv.get(key)
    assert value == "v1"
    assert kv.delete(key, cas=index + 1000) is False
    assert kv.delete(key, cas=index) is True
    assert kv.get(key) is None
