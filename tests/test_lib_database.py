"""lib/database/plan.py: the plan of a Database event, which never raises and always names the
field; its messages stay within what a status can hold."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lib.database.plan import MAX_ERRORS, MAX_MESSAGE, plan, pruned_warnings
from lib.database.objects import STATUS_LIMITS
from lib.stores.kv_layout import Layout
from lib.database.rds_params import create_params, final_snapshot_identifier
from tests.fixtures.database.support import payload, rds_instance
from tests.hostile_specs import json_values, specs
from tests.st2_params import load_action, validate_output

UID = "3f1c9a52-7d0e-4b8a-9f6e-2a4b5c6d7e8f"
META = load_action("database_plan")


def test_plan_of_new_resource():
    result = plan(payload(), None, {"region": "eu-west-1"})
    assert result == {
        "valid": True, "errors": [], "message": "", "warnings": [],
        "db_instance_identifier": "team-a-orders-db-f07cf474",
        "region": "eu-west-1",
        "create_params": create_params("team-a-orders-db-f07cf474", "team-a", "orders-db", UID,
                                       payload()["spec"]),
        "create_method": "create_db_instance",
        "modify_params": {},
        "adoption": "none",
        "vault_path": "team-a/orders-db",
        "consul_key": "team-a/orders-db/config",
        "deletion_policy": "Snapshot",
        "final_snapshot_identifier": final_snapshot_identifier("team-a-orders-db-f07cf474", UID),
        "on_instance_missing": "Report", "provisioned": False, "held": [], "held_message": "",
        "deletion_protection": None, "rotation_days": None,
        "parameter_group": None, "parameter_family": None, "parameters": {},
        "engine": payload()["spec"]["engine"], "apply_changes": "",
        "reboot_pending": False, "reboot_allowed": False, "maintenance_window": "",
        "uid": UID, "generation": 1, "namespace": "team-a", "name": "orders-db",
    }


def test_plan_defaults_paths_under_the_namespace_and_region():
    result = plan(payload(spec={"engine": "postgres", "region": "ap-south-1"}), None, {})
    assert (result["vault_path"], result["consul_key"], result["region"],
            result["deletion_policy"]) == ("team-a/orders-db", "team-a/orders-db/config",
                                           "ap-south-1", "Snapshot")
    layout = Layout("databases/{namespace}/", "databases/{namespace}/")
    result = plan(payload(spec={"engine": "postgres"}), None, {"layout": layout})
    assert (result["vault_path"], result["consul_key"]) == (
        "databases/team-a/orders-db", "databases/team-a/orders-db/config")


def test_a_claim_outside_the_namespace_is_refused_naming_the_field():
    spec = dict(payload()["spec"], vault={"path": "team-b/orders-db"},
                consul={"key": "team-b/orders-db/config"})
    result = plan(payload(spec=spec), None, {})
    assert result["valid"] is False
    assert result["errors"] == [
        "spec.vault.path: 'team-b/orders-db' is outside the Vault paths of namespace team-a; "
        "expected a path under 'team-a/' (pack config vault_path_prefix)",
        "spec.consul.key: 'team-b/orders-db/config' is outside the Consul keys of namespace "
        "team-a; expected a path under 'team-a/' (pack config consul_key_prefix)"]
    assert result["create_params"] == {}


def test_plan_of_invalid_spec_keeps_what_deletion_needs():
    result = plan(payload(spec={"engine": "postgres", "instanceSize": "giant",
                                "deletionPolicy": "Retain"}), None, {})
    assert result["valid"] is False
    assert result["errors"] == [
        "spec.instanceSize: expected one of small, medium, large, xlarge, huge, got 'giant'"]
    assert result["message"] == result["errors"][0]
    assert result["create_params"] == {} and result["modify_params"] == {}
    assert result["db_instance_identifier"] == "team-a-orders-db-f07cf474"
    assert result["deletion_policy"] == "Retain"


def test_plan_conflict_names_the_owner():
    result = plan(payload(), rds_instance(TagList=[{"Key": "st2-aws/uid", "Value": "someone"}]), {})
    assert (result["valid"], result["adoption"], result["modify_params"]) == (True, "conflict", {})
    assert result["message"] == ("RDS instance team-a-orders-db-f07cf474 already exists and "
                                 "belongs to Database uid someone; it is not adopted or changed")
    untagged = plan(payload(), rds_instance(TagList=[]), {})
    assert untagged["message"].endswith("belongs to no Database (no st2-aws/uid tag); it is not "
                                        "adopted or changed")


def test_plan_adopt_with_changes():
    result = plan(payload(spec=dict(payload()["spec"], storageGB=80)), rds_instance(), {})
    assert (result["valid"], result["adoption"]) == (True, "adopt")
    assert result["modify_params"] == {"DBInstanceIdentifier": "team-a-orders-db-f07cf474",
                                       "AllocatedStorage": 80, "ApplyImmediately": True}


def test_plan_adopt_holds_what_rds_cannot_undo_and_applies_the_rest():
    spec = dict(payload()["spec"], storageGB=20, instanceSize="large")
    result = plan(payload(spec=spec), rds_instance(), {})
    held = ("spec.storageGB: RDS storage cannot shrink; the instance keeps 50 GB (spec says 20): "
            "set storageGB to 50 or more")
    assert result["valid"] is True and result["errors"] == []
    assert result["modify_params"] == {"DBInstanceIdentifier": "team-a-orders-db-f07cf474",
                                       "DBInstanceClass": "db.m5.large", "ApplyImmediately": True}
    assert result["held"] == [held] and result["warnings"] == [held]
    assert result["held_message"] == "; not applied (RDS cannot go back): " + held


def test_plan_instance_missing_policy_and_provisioned():
    assert plan(payload(), None, {"on_instance_missing": "Recreate"})[
        "on_instance_missing"] == "Recreate"
    spec = dict(payload()["spec"], onInstanceMissing="Report")
    result = plan(payload(spec=spec, status={"endpoint": "x.rds.local"}), None,
                  {"on_instance_missing": "Recreate"})
    assert (result["on_instance_missing"], result["provisioned"]) == ("Report", True)
    bad = plan(payload(spec=dict(payload()["spec"], onInstanceMissing="Sometimes")), None, {})
    assert bad["valid"] is False
    assert bad["errors"] == ["spec.onInstanceMissing: expected one of Report, Recreate, got "
                             "'Sometimes'"]


@pytest.mark.parametrize("field, expected", [
    ("namespace", "a Kubernetes namespace name"), ("name", "a Kubernetes object name"),
    ("uid", "the object's metadata.uid")])
def test_plan_of_payload_without_identity_is_invalid_not_an_exception(field, expected):
    result = plan(payload(**{field: None}), None, {})
    assert result["valid"] is False
    assert result["errors"][0] == ("resource.%s: expected %s in the trigger payload, got None"
                                   % (field, expected))


@pytest.mark.parametrize("vault", ["team-a/x", 5, ["x"], None, {"path": 7}])
def test_non_object_vault_or_consul_is_an_error_not_an_exception(vault):
    for section in ("vault", "consul"):
        result = plan(payload(spec=dict(payload()["spec"], **{section: vault})), None, {})
        validate_output(META, result)
        if vault is not None:
            assert result["valid"] is False
            assert result["errors"][0].startswith("spec.%s" % section), result["errors"]


def test_a_5000_digit_version_and_2500_long_tags_give_a_small_message():
    spec = dict(payload()["spec"], engineVersion="9" * 5000,
                tags={"tag-%04d-%s" % (i, "k" * 100): "v" * 180 for i in range(2500)})
    result = plan(payload(spec=spec), None, {})
    assert result["valid"] is False
    assert result["errors"][0].startswith("spec.engineVersion: expected a postgres version")
    assert result["errors"][1] == ("spec.tags: expected at most 47 tags (RDS allows 50, the "
                                   "pack sets 3), got 2500")
    assert len(result["message"]) <= MAX_MESSAGE
    assert len(json.dumps(result)) < 10000


def test_many_problems_are_counted_not_listed():
    spec = {"engine": "postgres", "tags": {"aws:%d" % i: "v" for i in range(40)}}
    result = plan(payload(spec=spec), None, {})
    assert len(result["errors"]) == MAX_ERRORS + 1
    assert result["errors"][-1] == "and %d more problems" % (40 - MAX_ERRORS)


def test_pruned_fields_become_warnings():
    result = plan(payload(pruned_fields=["spec.storagegb", "spec.vault.mount", "spec.x"]),
                  None, {})
    assert result["valid"] is True
    assert result["warnings"] == [
        "spec.storagegb: in the applied configuration but not in the object: the API server "
        "dropped it (no such field in the Database schema), so it has no effect; did you mean "
        "spec.storageGB?",
        "spec.vault.mount: in the applied configuration but not in the object: the API server "
        "dropped it (no such field in the Database schema), so it has no effect",
        "spec.x: in the applied configuration but not in the object: the API server dropped "
        "it (no such field in the Database schema), so it has no effect"]
    many = pruned_warnings(["spec.f%d" % i for i in range(30)])
    assert len(many) == STATUS_LIMITS["warnings"]
    assert many[-1] == "21 more fields were dropped by the API server"
    assert pruned_warnings("spec.x") == [] and pruned_warnings([None, 5]) == []


RESOURCES = st.one_of(
    json_values(),
    st.builds(lambda spec, extra: dict(payload(spec=spec), **extra),
              st.one_of(specs(), json_values()),
              st.dictionaries(st.sampled_from(["namespace", "name", "uid", "generation",
                                               "pruned_fields", "spec"]), json_values(),
                              max_size=2)))


@settings(max_examples=400, deadline=None)
@given(resource=RESOURCES, current=st.one_of(st.none(), json_values(), st.just(rds_instance())))
def test_the_plan_never_raises_and_its_result_satisfies_the_output_schema(resource, current):
    result = plan(resource, current, {})
    validate_output(META, result)
    assert len(result["message"]) <= MAX_MESSAGE
    assert len(result["errors"]) <= MAX_ERRORS + 1
    assert all(len(w) <= STATUS_LIMITS["warning"] for w in result["warnings"])
    if not result["valid"]:
        assert result["errors"] or result["message"]
        for error in result["errors"]:
            assert error.startswith(("spec", "resource", "current_instance", "and ")), error
    else:
        assert result["create_params"]["DBInstanceIdentifier"] == result[
            "db_instance_identifier"]


def test_the_locations_the_status_records_stay():
    status = {"vaultPath": "team-a/old/creds", "consulKey": "team-a/old/config"}
    moved = plan(payload(status=status), None, {})
    assert moved["valid"] is False
    assert moved["errors"] == [
        "spec.vault.path: this Database's credentials are at 'team-a/old/creds'; moving them "
        "is not supported, expected 'team-a/old/creds' (or leave spec.vault.path out)",
        "spec.consul.key: this Database's config is at 'team-a/old/config'; moving it is not "
        "supported, expected 'team-a/old/config' (or leave spec.consul.key out)"]
    kept = plan(payload(spec={"engine": "postgres"}, status=status), None,
                {"layout": Layout("databases/{namespace}/", "databases/{namespace}/")})
    assert (kept["valid"], kept["vault_path"], kept["consul_key"]) == (
        True, "team-a/old/creds", "team-a/old/config")
    same = plan(payload(status={"vaultPath": "team-a/orders-db",
                                "consulKey": "team-a/orders-db/config"}), None, {})
    assert same["valid"] is True


def test_a_change_for_the_maintenance_window_is_a_warning():
    resource = payload()
    resource["spec"] = dict(resource["spec"], instanceSize="large",
                            applyChanges="NextMaintenanceWindow")
    result = plan(resource, rds_instance())
    assert result["valid"] and result["modify_params"]["ApplyImmediately"] is False
    assert result["warnings"][-1] == (
        "spec.applyChanges: applied in the instance's next maintenance window, not now "
        "(spec.applyChanges is NextMaintenanceWindow): DBInstanceClass db.m5.large; RDS holds "
        "it as pending until then")
    resource["spec"].update(applyChanges="Immediately")
    result = plan(resource, rds_instance())
    assert result["modify_params"]["ApplyImmediately"] is True
    assert not [w for w in result["warnings"] if w.startswith("spec.applyChanges")]
