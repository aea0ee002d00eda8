"""lib.database.observe: the resync's look at AWS, Vault and Consul, against the local servers and
against servers that are down (each source not read is named, and left out)."""

import socket

import pytest

from lib.database.observe import Observer


def _ready(name, vault_path, consul_key, **spec):
    return {"metadata": {"namespace": "ns", "name": name},
            "spec": dict({"engine": "postgres"}, **spec),
            "status": {"phase": "Ready", "dbInstanceIdentifier": "ns-%s-1" % name,
                       "vaultPath": vault_path, "consulKey": consul_key}}


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sources_that_are_down_are_named_and_nothing_is_known_of_them():
    port = _closed_port()
    config = {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:%d" % port,
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
              "vault_url": "http://127.0.0.1:%d" % port, "vault_token": "t",
              "consul_host": "127.0.0.1", "consul_port": port}
    observer = Observer(config)
    observed = observer.observe([_ready("a", "ns/a", "ns/a/config")], "us-east-1")
    assert observed["instances"] == {} and observed["vault"] == {} and observed["consul"] == {}
    assert [e.split(":")[0] for e in observer.errors] == ["region us-east-1", "Vault", "Consul"]
    assert observer.errors[0].endswith("(its Databases were not checked)")
    assert observer.counts["vault_reads"] == 1 and observer.counts["consul_reads"] == 1


@pytest.mark.integration
def test_the_local_servers_are_read_once_per_region_and_per_database(config):
    databases = [_ready("a", "missing/a", "missing/a/config"),
                 _ready("b", "missing/b", "missing/b/config", region=config["region"]),
                 dict(_ready("c", "", ""), status={"phase": "Updating"})]  # not Ready: not read
    observer = Observer(config)
    observed = observer.observe(databases, config["region"])
    assert observer.errors == []
    assert list(observed["instances"]) == [config["region"]]
    assert observed["vault"] == {("ns", "a"): {"exists": False, "source_version": None},
                                 ("ns", "b"): {"exists": False, "source_version": None}}
    assert observed["consul"] == {("ns", "a"): None, ("ns", "b"): None}
    # one region: one describe_db_instances and one list_secrets
    assert observer.counts == {"aws_calls": 2, "vault_reads": 2, "consul_reads": 2}
