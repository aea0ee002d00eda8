"""lib.database.status: the status patch, retry and events aws.database_set_status writes,
composed without a server (tests/test_action_database_set_status.py runs the action against
the local API server)."""

import datetime

import pytest
from hypothesis import given, strategies as st

from lib.database.status import (check_inputs, compose, extra_event, merged, shown_warnings,
                                 transition_event, unchanged)

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.timezone.utc)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.dictionaries(st.text(max_size=3), inner, max_size=4),
                    max_leaves=12)


def _conditions(status):
    return {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}


@pytest.mark.parametrize("args,message", [
    (("Ready", {"nope": 1}, "", ""), "fields: unknown status fields nope; expected some of"),
    (("Failed", {}, "maybe", ""), 'outcome: expected "", "recoverable" or "terminal"'),
    (("Ready", {}, "", "not camel"), "event_reason: expected a CamelCase reason"),
])
def test_bad_inputs_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        check_inputs(*args)


def test_an_outcome_only_qualifies_a_failure():
    assert check_inputs("Ready", None, "terminal", None) == ({}, "", "")
    assert check_inputs("Failed", {"port": 1}, "terminal", "Rebooting") == (
        {"port": 1}, "terminal", "Rebooting")


def test_warnings_are_bounded_and_the_last_one_counts_the_rest():
    assert shown_warnings(None) is None
    shown = shown_warnings(["w%d" % i for i in range(14)] + ["x" * 600])
    assert len(shown) == 10 and shown[-1] == "6 more warnings"
    assert len(shown_warnings(["x" * 600])[0]) <= 512


def test_a_recoverable_failure_schedules_a_retry_and_ready_removes_it():
    status, retry, delay = compose({}, {}, "Failed", "boom", 3, None, "recoverable", NOW,
                                   (30, 900), lambda: 0.5)
    assert retry == status["retry"] and retry["attempts"] == 1 and delay == 30
    assert _conditions(status)["Ready"] == ("False", "Recoverable")
    ready, retry, _ = compose(status, {"port": 5432}, "Ready", "fine", 3, [], "", NOW)
    assert retry is None and ready["retry"] is None and ready["port"] == 5432
    assert _conditions(ready)["Ready"][0] == "True"
    assert "retry" not in merged(status, ready)


def test_nothing_changes_when_the_same_status_is_written_again():
    status, _, _ = compose({}, {"endpoint": "db"}, "Ready", "fine", 2, ["w"], "", NOW)
    current = merged({}, status)
    again, _, _ = compose(current, {"endpoint": "db"}, "Ready", "fine", 2, ["w"], "",
                          NOW + datetime.timedelta(minutes=5))
    assert unchanged(current, again)
    other, _, _ = compose(current, {"endpoint": "db"}, "Ready", "fine", 3, ["w"], "", NOW)
    assert not unchanged(current, other)


def test_empty_strings_are_written_as_absent():
    status, _, _ = compose({"message": "old"}, {"endpoint": ""}, "Ready", "", None, ["", "w"],
                           "", NOW)
    assert status["endpoint"] is None and status["message"] is None
    assert status["warnings"] == ["w"]


def test_events_go_with_transitions_and_what_a_workflow_asks_for():
    assert transition_event({"phase": "Updating"}, {"phase": "Ready", "message": "ok"}, "",
                            None) == ("Ready", "ok", "Normal")
    assert transition_event({"phase": "Ready"}, {"phase": "Ready", "message": "ok"}, "",
                            None) is None
    retry = {"attempts": 2, "nextAttemptAt": "2026-12-07T12:01:00Z"}
    assert transition_event({}, {"phase": "Failed", "message": "boom"}, "recoverable",
                            retry) == ("RetryScheduled",
                                       "boom (retry 2 at 2026-12-07T12:01:00Z)", "Warning")
    failed = {"phase": "Failed", "message": "boom",
              "conditions": [{"type": "Ready", "reason": "Terminal"}]}
    assert transition_event(failed, dict(failed), "terminal", None) is None
    assert transition_event(failed, dict(failed, message="other"), "terminal", None)[0] == \
        "Failed"
    assert extra_event("Updating", "m", "Rebooting", "") == ("Rebooting", "m", "Normal")
    assert extra_event("Failed", "m", "InstanceMissing", "gone") == (
        "InstanceMissing", "gone", "Warning")
    assert extra_event("Ready", "m", "", "x") is None


@given(target=JSON, patch=JSON)
def test_merge_patch_follows_rfc_7386(target, patch):
    result = merged(target, patch)
    if not isinstance(patch, dict):
        assert result == patch
        return
    assert isinstance(result, dict)
    for key, value in patch.items():
        if value is None:
            assert key not in result
        else:
            assert result[key] == merged((target or {}).get(key)
                                         if isinstance(target, dict) else None, value)
    for key in (target if isinstance(target, dict) else {}):
        if key not in patch:
            assert result[key] == target[key]
    assert merged(result, patch) == result  # applying it twice changes nothing more
