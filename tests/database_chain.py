"""Fixtures and helpers of the chain tests that drive the Database workflows through lib.chain on
the local servers (tests/test_chain_resync.py, test_chain_parameters.py, test_chain_restore.py).

A pytest plugin (tests/conftest.py loads it): the fixtures ``crd``, ``config``, ``aws`` and
``databases``; a test module that defines a fixture of the same name uses its own.
"""

import pytest

from lib.chain import run_workflow
from lib.kube.api import ADDED, to_payload
from tests.database_world import GROUP, PLURAL, VERSION, Databases, delete_instances_of, pack_config
from tests.fixtures.database.support import all_steps, ensure_database_crd

RESOURCE = {"group": GROUP, "version": VERSION, "plural": PLURAL}
#: The actions that write to Kubernetes, Vault or Consul (a quiet resync runs none).
WRITING = ("aws.database_set_status", "aws.database_finalizer", "aws.database_publish_config",
           "aws.database_store_credentials", "aws.database_cleanup")


@pytest.fixture(scope="module")
def crd(kube_api_client):
    ensure_database_crd(kube_api_client)


@pytest.fixture
def config(stack, vault_path, consul_prefix):
    return pack_config(stack.require("kube", "vault", "consul", "aws"), vault_path, consul_prefix)


@pytest.fixture
def aws(config):
    import boto3

    def make(service):
        return boto3.client(service, endpoint_url=config["endpoint_url"],
                            region_name=config["region"], aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    return make


@pytest.fixture
def databases(crd, kube_api_client, kube_namespace, vault_path, consul_prefix, aws):
    dbs = Databases(kube_api_client, kube_namespace, vault_path, consul_prefix)
    yield dbs
    delete_instances_of(aws("rds"), kube_namespace)


def provision(databases, name, config, **spec):
    """Apply Database ``name`` and run the create workflow for it."""
    databases.apply(name, **spec)
    return run_workflow("database_create", to_payload(ADDED, databases.get(name), RESOURCE),
                        config, poll_delay=0)


def update(databases, name, config, **change):
    """Patch Database ``name``'s spec and run the update workflow for it."""
    databases.patch_spec(name, **change)
    return run_workflow("database_update", to_payload("MODIFIED", databases.get(name), RESOURCE),
                        config, poll_delay=0)


def resync(databases, config, full=True, **knobs):
    return run_workflow("database_resync", config=config, poll_delay=0,
                        inputs={"full": full, "namespace": databases.namespace}, **knobs)


def quiet(run):
    """The resync looked, started nothing and wrote nothing."""
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["causes"] == [] and run["output"]["errors"] == []
    assert not [s for s in all_steps(run) if s["action"] in WRITING]


def steps(run):
    """Every step of a chain run, sub-workflows of sub-workflows included."""
    for step in run["steps"]:
        yield step
        yield from steps(step) if step.get("steps") else ()


def modify_calls(run):
    """The parameters of every rds.modify_db_instance call of a run."""
    return [s["parameters"]["params"] for s in steps(run)
            if s["action"] == "aws.boto3action"
            and s["parameters"].get("action_name") == "modify_db_instance"]
