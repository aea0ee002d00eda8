"""lib/stores/vault.py: client from the pack config, errors naming the key or the server."""

import pytest

from lib.action import ConfigError
from lib.stores.vault import KV, VaultError, client_from_config
from tests.fixtures.database.support import closed_port, vault_config


def test_missing_url_and_token_name_the_key():
    with pytest.raises(ConfigError) as exc:
        client_from_config({"vault_token": "t"})
    assert str(exc.value).startswith('pack config key "vault_url" is required')
    with pytest.raises(ConfigError) as exc:
        client_from_config({"vault_url": "http://vault:8200"})
    assert str(exc.value).startswith('pack config key "vault_token" is required')
    with pytest.raises(ConfigError) as exc:
        client_from_config({"vault_url": "vault:8200", "vault_token": "t"})
    assert str(exc.value) == ('pack config key "vault_url" must start with http:// or https://, '
                              "got 'vault:8200'")


def test_mount_defaults_to_secret():
    kv = KV({"vault_url": "http://127.0.0.1:1", "vault_token": "t"})
    assert (kv.mount, kv.where("a/b")) == ("secret", "secret/a/b")


@pytest.mark.integration
def test_refused_token_is_named(stack):
    # the token is looked up when the client is built (lib/stores/vault_auth.py renews it there), so
    # an expired or revoked one is named before any KV call, with what to do about it
    with pytest.raises(VaultError) as exc:
        KV(dict(vault_config(stack), vault_token="not-a-token"))
    assert str(exc.value).startswith("Vault at %s refused the token of pack config vault_token: "
                                     "it expired or was revoked" % stack["vault"]["addr"])
    assert "not-a-token" not in str(exc.value)


@pytest.mark.integration
def test_claim_then_check_and_set(stack, vault_path):
    kv = KV(vault_config(stack))
    path = vault_path + "/x"
    assert kv.metadata(path) is None
    kv.claim(path, "uid-1")
    state = kv.metadata(path)
    assert (state.owner, state.version) == ("uid-1", 0)
    assert kv.write(path, {"a": 1}, cas=0) == 1
    assert kv.try_write(path, {"a": 2}, cas=0) is None  # lost: None, nothing written
    with pytest.raises(VaultError) as exc:
        kv.write(path, {"a": 2}, cas=0)
    assert str(exc.value) == ("Vault secret secret/%s changed while it was being written "
                              "(check-and-set version 0 no longer current); nothing was "
                              "overwritten, retry" % path)
    assert kv.read(path) == {"a": 1}


@pytest.mark.integration
def test_state_and_a_retracted_version(stack, vault_path):
    kv = KV(vault_config(stack))
    path = vault_path + "/y"
    kv.claim(path, "uid-1")
    assert kv.write(path, {"password": "one"}, cas=0) == 1
    assert kv.write(path, {"password": "two"}, cas=1) == 2
    state = kv.metadata(path)
    assert (state.owner, state.version, state.deleted) == ("uid-1", 2, False)
    assert state.created is not None and state.created.tzinfo is not None
    assert kv.read(path, version=1) == {"password": "one"}
    kv.retract(path, 2)
    state = kv.metadata(path)
    assert (state.version, state.deleted) == (2, True)
    assert kv.read(path) is None


def test_unreachable_server_is_named():
    url = "http://127.0.0.1:%d" % closed_port()
    with pytest.raises(VaultError) as exc:
        KV({"vault_url": url, "vault_token": "t"}).read("a")
    assert str(exc.value) == ("Vault at %s (pack config vault_url) is unreachable while reading "
                              "secret/a: ConnectionError" % url)
