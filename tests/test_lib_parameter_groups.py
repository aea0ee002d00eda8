"""lib.database.parameter_groups: spec.parameters' family, group name, checks and changes."""

import pytest

from lib.database.plan import plan
from lib.database.parameter_groups import (BATCH, ParameterGroups, apply_method, batches, family,
                                           group_name, parameter_changes, validate_parameters)
from lib.aws import AwsCallError
from lib.database.rds_params import TAG_UID, create_params, modify_params, spec_differences

SPEC = {"engine": "postgres", "engineVersion": "16.3"}


@pytest.mark.parametrize("engine,version,expected", [
    ("postgres", "16.3", "postgres16"), ("postgres", "13.15", "postgres13"),
    ("mysql", "8.0.35", "mysql8.0"), ("mysql", "8.4.3", "mysql8.4"),
    ("mariadb", "10.11.9", "mariadb10.11"), ("postgres", None, None), ("oracle", "19", None)])
def test_family_follows_engine_and_major_version(engine, version, expected):
    assert family(engine, version) == expected


def test_group_name_is_the_identifier_and_family_within_rds_rules():
    assert group_name("ns-db-cc24a205", "mysql8.0") == "ns-db-cc24a205-mysql8-0"
    assert group_name("ns-db-cc24a205", "postgres16") == "ns-db-cc24a205-postgres16"
    assert group_name("a--b", "postgres16") is None
    assert len(group_name("a" * 63, "mariadb10.11")) <= 255


@pytest.mark.parametrize("params,message", [
    ("work_mem=4MB", "spec.parameters: expected a map of engine parameter names to values"),
    ({"work mem": "4MB"}, "spec.parameters: 'work mem' is no engine parameter name"),
    ({"work_mem": True}, "spec.parameters.work_mem: expected a string or an integer, got True"),
    ({"work_mem": ""}, "spec.parameters.work_mem: expected 1 to 4096 printable characters"),
    ({"work_mem": "x" * 4097}, "spec.parameters.work_mem: expected 1 to 4096 printable"),
    ({"work_mem": "a\nb"}, "spec.parameters.work_mem: expected 1 to 4096 printable"),
    ({"p%d" % i: "1" for i in range(101)}, "spec.parameters: at most 100 parameters, got 101"),
])
def test_invalid_parameters_are_named(params, message):
    errors = validate_parameters(dict(SPEC, parameters=params))
    assert any(e.startswith(message) for e in errors), errors


def test_parameters_need_an_engine_version_for_the_family():
    errors = validate_parameters({"engine": "postgres", "parameters": {"work_mem": "4MB"}})
    assert errors == ["spec.parameters, spec.engineVersion: the parameter group family follows "
                      "the engine version; expected engineVersion set with parameters"]
    assert validate_parameters(dict(SPEC, parameters={"work_mem": "4MB", "x": 3})) == []
    assert validate_parameters(dict(SPEC, parameters={})) == []


def test_the_plan_refuses_invalid_parameters_naming_the_field():
    result = plan({"namespace": "ns", "name": "db", "uid": "u1",
                   "spec": dict(SPEC, parameters={"work_mem": ["4MB"]})})
    assert not result["valid"] and result["create_params"] == {}
    assert "spec.parameters.work_mem: expected a string or an integer" in result["message"]


def test_the_plan_names_the_group_and_creates_the_instance_with_it():
    result = plan({"namespace": "ns", "name": "db", "uid": "u1",
                   "spec": dict(SPEC, parameters={"work_mem": "4MB", "max_connections": 200})})
    assert result["valid"], result["errors"]
    group = result["parameter_group"]
    assert group.endswith("-postgres16") and group.startswith(result["db_instance_identifier"])
    assert result["parameter_family"] == "postgres16"
    assert result["parameters"] == {"work_mem": "4MB", "max_connections": "200"}
    assert result["create_params"]["DBParameterGroupName"] == group
    bare = plan({"namespace": "ns", "name": "db", "uid": "u1", "spec": dict(SPEC)})
    assert bare["parameter_group"] is None and "DBParameterGroupName" not in bare["create_params"]


def test_modify_sets_the_group_only_when_the_instance_has_another():
    spec = dict(SPEC, parameters={"work_mem": "4MB"})
    group = create_params("ns-db-1", "ns", "db", "u1", spec)["DBParameterGroupName"]
    instance = {"DBInstanceIdentifier": "ns-db-1", "Engine": "postgres", "EngineVersion": "16.3",
                "DBInstanceClass": "db.t3.small", "AllocatedStorage": 20,
                "DBParameterGroups": [{"DBParameterGroupName": group,
                                       "ParameterApplyStatus": "in-sync"}]}
    assert modify_params(spec, instance)[0] == {}
    assert spec_differences(spec, instance) == []
    other = dict(instance, DBParameterGroups=[{"DBParameterGroupName": "default.postgres16"}])
    assert modify_params(spec, other)[0]["DBParameterGroupName"] == group
    assert spec_differences(spec, other) == [("parameters", group, "default.postgres16", True)]
    # without spec.parameters the instance's group is left alone
    assert modify_params(dict(SPEC), other)[0] == {}


@pytest.mark.parametrize("name,apply_type,when,expected", [
    ("work_mem", None, None, "immediate"),
    ("work_mem", None, "Immediately", "immediate"),
    ("work_mem", None, "NextMaintenanceWindow", "pending-reboot"),
    ("shared_buffers", None, "Immediately", "pending-reboot"),
    ("work_mem", "static", None, "pending-reboot"),  # RDS's ApplyType wins over the table
    ("shared_buffers", "dynamic", None, "immediate"),
])
def test_apply_method(name, apply_type, when, expected):
    assert apply_method("postgres", name, apply_type, when) == expected


def test_only_what_differs_changes_and_what_the_spec_dropped_is_reset():
    described = [{"ParameterName": "work_mem", "ParameterValue": "4MB"},
                 {"ParameterName": "old_one", "ParameterValue": "1"},
                 {"ParameterName": "shared_buffers", "ParameterValue": "10"}]
    wanted = {"work_mem": "4MB", "shared_buffers": "20", "statement_timeout": "0"}
    modify, reset, pending, errors = parameter_changes("postgres", wanted, described)
    assert errors == [] and reset == ["old_one"] and pending == ["shared_buffers"]
    assert modify == [
        {"ParameterName": "shared_buffers", "ParameterValue": "20",
         "ApplyMethod": "pending-reboot"},
        {"ParameterName": "statement_timeout", "ParameterValue": "0", "ApplyMethod": "immediate"}]


def test_real_rds_answers_name_unknown_and_unmodifiable_parameters():
    described = [{"ParameterName": "work_mem", "Source": "engine-default", "ApplyType": "dynamic",
                  "IsModifiable": True},
                 {"ParameterName": "data_directory", "Source": "system", "ApplyType": "static",
                  "IsModifiable": False}]
    _, _, _, errors = parameter_changes(
        "postgres", {"work_mem": "4MB", "data_directory": "/x", "no_such": "1"}, described)
    assert errors == ["spec.parameters.data_directory: RDS does not allow it to be changed",
                      "spec.parameters.no_such: no such parameter in the group's family"]
    modify, reset, _, errors = parameter_changes("postgres", {"work_mem": "4MB"}, described)
    assert errors == [] and reset == [] and modify[0]["ApplyMethod"] == "immediate"


class FakeRds:
    """RDS as lib.aws's call_operation answers without paginating: describe_db_parameter_groups
    by name (DBParameterGroupNotFound when missing), else ``page`` groups a page (RDS: at most
    MaxRecords, 100 at most) with a ``Marker`` while more follow."""

    def __init__(self, groups=None, page=100):
        self.groups = groups or {}
        self.page = page
        self.calls = []

    def __call__(self, method, params):
        self.calls.append((method, params))
        if method == "describe_db_parameter_groups":
            items = [{"DBParameterGroupName": n, "DBParameterGroupArn": "arn:" + n,
                      "DBParameterGroupFamily": g["family"]} for n, g in self.groups.items()]
            if "DBParameterGroupName" in params:
                items = [i for i in items
                         if i["DBParameterGroupName"] == params["DBParameterGroupName"]]
                if not items:
                    raise AwsCallError(
                        "rds.describe_db_parameter_groups failed: DBParameterGroupNotFound: "
                        "DBParameterGroup not found: %s (HTTP 404)"
                        % params["DBParameterGroupName"])
                return {"DBParameterGroups": items}
            assert params.get("MaxRecords", 100) <= 100
            start = int(params.get("Marker") or 0)
            end = start + min(self.page, params.get("MaxRecords", 100))
            found = {"DBParameterGroups": items[start:end]}
            if end < len(items):
                found["Marker"] = str(end)
            return found
        if method == "list_tags_for_resource":
            return {"TagList": self.groups[params["ResourceName"][4:]]["tags"]}
        if method == "create_db_parameter_group":
            self.groups[params["DBParameterGroupName"]] = {
                "family": params["DBParameterGroupFamily"], "tags": params["Tags"], "values": {}}
            return {}
        if method == "describe_db_parameters":
            return {"Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in
                                   self.groups[params["DBParameterGroupName"]]["values"].items()]}
        if method == "modify_db_parameter_group":
            assert len(params["Parameters"]) <= BATCH
            for p in params["Parameters"]:
                self.groups[params["DBParameterGroupName"]]["values"][p["ParameterName"]] = \
                    p["ParameterValue"]
            return {}
        if method == "delete_db_parameter_group":
            del self.groups[params["DBParameterGroupName"]]
            return {}
        raise AssertionError(method)


def test_ensure_creates_tagged_then_changes_in_batches_of_twenty():
    rds = FakeRds()
    tags = [{"Key": TAG_UID, "Value": "u1"}]
    wanted = {"p%02d" % i: str(i) for i in range(45)}
    result = ParameterGroups(rds, TAG_UID).ensure("db-1-postgres16", "postgres16", "postgres",
                                                  wanted, "u1", tags)
    assert result["created"] and len(result["changed"]) == 45
    assert [len(p["Parameters"]) for m, p in rds.calls
            if m == "modify_db_parameter_group"] == [20, 20, 5]
    assert rds.groups["db-1-postgres16"]["tags"] == tags
    rds.calls.clear()
    again = ParameterGroups(rds, TAG_UID).ensure("db-1-postgres16", "postgres16", "postgres",
                                                 dict(wanted, p00="x"), "u1", tags)
    assert not again["created"] and again["changed"] == ["p00"]
    assert batches(list(range(41))) == [list(range(20)), list(range(20, 40)), [40]]


def test_ensure_and_delete_never_touch_a_group_another_uid_owns():
    rds = FakeRds({"db-1-postgres16": {"family": "postgres16", "values": {},
                                       "tags": [{"Key": TAG_UID, "Value": "other"}]},
                   "db-1-postgres15": {"family": "postgres15", "values": {},
                                       "tags": [{"Key": TAG_UID, "Value": "u1"}]},
                   "db-10-postgres15": {"family": "postgres15", "values": {},
                                        "tags": [{"Key": TAG_UID, "Value": "u1"}]}})
    groups = ParameterGroups(rds, TAG_UID)
    with pytest.raises(ValueError, match="exists and belongs to Database uid other"):
        groups.ensure("db-1-postgres16", "postgres16", "postgres", {"a": "1"}, "u1", [])
    assert groups.delete("db-1", "u1") == {"deleted": ["db-1-postgres15"],
                                           "kept": ["db-1-postgres16"]}
    assert sorted(rds.groups) == ["db-1-postgres16", "db-10-postgres15"]


def _owned(uid, family_name="postgres16"):
    return {"family": family_name, "values": {}, "tags": [{"Key": TAG_UID, "Value": uid}]}


def test_delete_reads_every_page_of_the_listing():
    # 130 groups of other Databases first: this Database's own and another uid's come on the
    # second page of 100
    groups = {"db-%03d-postgres16" % i: _owned("u%d" % i) for i in range(130)}
    groups["db-1-postgres15"] = _owned("u1", "postgres15")
    groups["db-1-postgres16"] = _owned("other")
    rds = FakeRds(groups)
    assert ParameterGroups(rds, TAG_UID).delete("db-1", "u1") == {
        "deleted": ["db-1-postgres15"], "kept": ["db-1-postgres16"]}
    assert [p for m, p in rds.calls if m == "describe_db_parameter_groups"] == [
        {"MaxRecords": 100}, {"MaxRecords": 100, "Marker": "100"}]
    assert "db-1-postgres15" not in rds.groups and "db-1-postgres16" in rds.groups
    assert len(rds.groups) == 131


def test_delete_follows_the_marker_to_the_last_page():
    groups = {"db-%d-postgres16" % i: _owned("u%d" % i) for i in range(45)}
    groups["db-7-postgres15"] = _owned("u7", "postgres15")
    rds = FakeRds(groups, page=20)  # RDS may answer fewer than MaxRecords a page
    assert ParameterGroups(rds, TAG_UID).delete("db-7", "u7") == {
        "deleted": ["db-7-postgres16", "db-7-postgres15"], "kept": []}
    assert [p.get("Marker") for m, p in rds.calls if m == "describe_db_parameter_groups"] == [
        None, "20", "40"]
    # every page was listed before the first delete
    methods = [m for m, _ in rds.calls]
    assert methods[:3] == ["describe_db_parameter_groups"] * 3
    assert "describe_db_parameter_groups" not in methods[3:]
    assert methods.count("delete_db_parameter_group") == 2


def test_ensure_asks_for_its_group_by_name():
    rds = FakeRds({"db-%03d-postgres16" % i: _owned("u%d" % i) for i in range(150)})
    tags = [{"Key": TAG_UID, "Value": "u1"}]
    groups = ParameterGroups(rds, TAG_UID)
    # missing (RDS answers DBParameterGroupNotFound): created
    assert groups.ensure("db-1-postgres16", "postgres16", "postgres", {"a": "1"}, "u1",
                         tags)["created"]
    # now the 151st group, past a listing's first page: found by its name, not created again
    result = groups.ensure("db-1-postgres16", "postgres16", "postgres", {"a": "2"}, "u1", tags)
    assert not result["created"] and result["changed"] == ["a"]
    assert [p for m, p in rds.calls if m == "describe_db_parameter_groups"] == [
        {"DBParameterGroupName": "db-1-postgres16"}] * 2
    with pytest.raises(ValueError, match="belongs to Database uid u149"):
        groups.ensure("db-149-postgres16", "postgres16", "postgres", {}, "u1", tags)


def test_find_raises_other_errors():
    def refusing(method, params):
        raise AwsCallError("rds.describe_db_parameter_groups failed: AccessDenied: no (HTTP 403)")
    with pytest.raises(AwsCallError, match="AccessDenied"):
        ParameterGroups(refusing, TAG_UID).ensure("db-1-postgres16", "postgres16", "postgres",
                                                  {}, "u1", [])


def test_a_held_downgrade_keeps_the_group_of_the_running_family():
    spec = dict(SPEC, engineVersion="15.4", parameters={"work_mem": "4MB"})
    instance = {"DBInstanceIdentifier": "ns-db-1", "Engine": "postgres", "EngineVersion": "16.3",
                "DBInstanceClass": "db.t3.small", "AllocatedStorage": 20,
                "DBParameterGroups": [{"DBParameterGroupName": "ns-db-1-postgres16"}]}
    changes, errors, held = modify_params(spec, instance)
    assert changes == {} and errors == [] and held
    assert [d[0] for d in spec_differences(spec, instance)] == ["engineVersion"]
    # an allowed major upgrade brings the new family's group along
    up = dict(spec, engineVersion="17.2", allowMajorVersionUpgrade=True)
    assert modify_params(up, instance)[0]["DBParameterGroupName"] == "ns-db-1-postgres17"


def test_the_resync_names_each_parameter_that_differs():
    from lib.database.resync import _parameter_drift  # pylint: disable=import-outside-toplevel
    spec = dict(SPEC, parameters={"work_mem": "4MB", "max_connections": 200})
    instance = {"DBInstanceIdentifier": "ns-db-1"}
    group = "ns-db-1-postgres16"
    observed = {"parameters": {group: {"work_mem": "1MB", "max_connections": "200",
                                       "extra": "x"}}}
    assert _parameter_drift(spec, instance, observed) == [
        ("parameters.extra", None, "x"), ("parameters.work_mem", "4MB", "1MB")]
    assert _parameter_drift(spec, instance, {"parameters": {}}) == []
    assert _parameter_drift(dict(SPEC), instance, observed) == []
