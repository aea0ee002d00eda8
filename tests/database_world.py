"""The Databases of one test namespace on the local servers, and what a Ready one must hold:
shared by the chain tests (tests/test_chain_database.py, tests/test_chain_resync.py)."""

import json

from kubernetes import client
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "dbaas.stackstorm.com", "v1alpha1", "databases"


def pack_config(data, vault_path, consul_prefix):
    """The pack config for the servers of stack.json ``data``; each namespace's Vault paths and
    Consul keys under the test's prefixes."""
    return {
        "vault_path_prefix": vault_path + "/{namespace}/",
        "consul_key_prefix": consul_prefix + "{namespace}/",
        "region": data["aws"]["region"],
        "endpoint_url": data["aws"]["endpoint_url"],
        "aws_access_key_id": data["aws"]["access_key_id"],
        "aws_secret_access_key": data["aws"]["secret_access_key"],
        "role_arn": "arn:aws:iam::123456789012:role/st2-database-provisioner",
        "kubeconfig": data["kube"]["kubeconfig"],
        "vault_url": data["vault"]["addr"],
        "vault_token": data["vault"]["token"],
        "vault_kv_mount": data["vault"]["kv_mount"],
        "consul_host": data["consul"]["host"],
        "consul_port": data["consul"]["port"],
    }


class Databases:
    """Database resources of one test namespace, through the Kubernetes API."""

    def __init__(self, api_client, namespace, vault_prefix, consul_prefix):
        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.vault_prefix = vault_prefix
        self.consul_prefix = consul_prefix

    def spec(self, name, **changes):
        spec = {
            "engine": "postgres",
            "engineVersion": "15.4",
            "instanceSize": "small",
            "storageGB": 20,
            "databaseName": "orders",
            "deletionPolicy": "Snapshot",
            "vault": {"path": "%s/%s/%s" % (self.vault_prefix, self.namespace, name)},
            "consul": {"key": "%s%s/%s/config" % (self.consul_prefix, self.namespace, name)},
            "tags": {"team": "team-a"},
        }
        spec.update(changes)
        return spec

    def apply(self, name, **changes):
        body = {"apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Database",
                "metadata": {"name": name}, "spec": self.spec(name, **changes)}
        return self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                        body)

    def get(self, name):
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                         name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_spec(self, name, **changes):
        return self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                       name, {"spec": changes})

    def delete(self, name):
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)


def instances_of(rds, identifier):
    return rds.describe_db_instances(
        Filters=[{"Name": "db-instance-id", "Values": [identifier]}])["DBInstances"]


def tags_of(instance):
    return {t["Key"]: t["Value"] for t in instance.get("TagList", [])}


def assert_ready(databases, name, run, generation, vault_client, consul_client, rds,
                 secretsmanager, config):
    """Ready status, the uid tag on the instance, working credentials in Vault, Consul config."""
    obj = databases.get(name)
    uid, ident = obj["metadata"]["uid"], run["output"]["db_instance_identifier"]
    (instance,) = instances_of(rds, ident)
    assert tags_of(instance)["st2-aws/uid"] == uid
    status = obj["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == generation
    assert status["dbInstanceIdentifier"] == ident
    assert status["endpoint"] == instance["Endpoint"]["Address"]
    assert status["port"] == instance["Endpoint"]["Port"]
    assert status["vaultPath"] == databases.spec(name)["vault"]["path"]
    assert status["consulKey"] == databases.spec(name)["consul"]["key"]
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert [c["status"] for c in ready] == ["True"]
    secret = vault_client.secrets.kv.v2.read_secret_version(
        path=status["vaultPath"], mount_point=config["vault_kv_mount"],
        raise_on_deleted_version=True)
    data = secret["data"]["data"]
    held = json.loads(secretsmanager.get_secret_value(
        SecretId=instance["MasterUserSecret"]["SecretArn"])["SecretString"])
    assert data["password"] == held["password"]
    assert data["host"] == instance["Endpoint"]["Address"]
    assert data["port"] == instance["Endpoint"]["Port"]
    assert data["engine"] == "postgres"
    assert data["dbname"] == "orders"
    _, item = consul_client.kv.get(status["consulKey"])
    published = json.loads(item["Value"])
    assert published == {
        "host": instance["Endpoint"]["Address"], "port": instance["Endpoint"]["Port"],
        "engine": "postgres", "dbname": "orders", "db_instance_identifier": ident,
        "vault_path": status["vaultPath"], "region": config["region"], "uid": uid,
        # the TLS facts a client needs (issue 19): never a secret
        "ssl_mode": "require", "ca_certificate_identifier": instance["CACertificateIdentifier"],
        "iam_authentication": instance["IAMDatabaseAuthenticationEnabled"],
        "ca_bundle_url": "https://truststore.pki.rds.amazonaws.com/%s/%s-bundle.pem"
                         % (config["region"], config["region"]),
    }
    return instance, data["password"]


def delete_instances_of(rds, namespace):
    """Leave nothing behind in moto: the instances of ``namespace``'s Databases (deletion
    protection turned off first)."""
    for item in rds.describe_db_instances()["DBInstances"]:
        tags = {t["Key"]: t["Value"] for t in item.get("TagList", [])}
        if tags.get("st2-aws/namespace") == namespace:
            if item.get("DeletionProtection"):
                rds.modify_db_instance(DBInstanceIdentifier=item["DBInstanceIdentifier"],
                                       DeletionProtection=False, ApplyImmediately=True)
            rds.delete_db_instance(DBInstanceIdentifier=item["DBInstanceIdentifier"],
                                   SkipFinalSnapshot=True)
