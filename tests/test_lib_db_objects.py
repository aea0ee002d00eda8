"""lib/database/objects.py: the Ready condition and the bounds of what a status holds."""

from lib.database.objects import STATUS_LIMITS, bounded, ready_condition
from tests.fixtures.database.support import crd_schema


def test_ready_condition_keeps_transition_time_while_status_holds():
    first = ready_condition([], "Provisioning", "creating", 1, "2026-01-01T00:00:00Z")
    assert first == [{"type": "Ready", "status": "False", "reason": "Provisioning",
                      "message": "creating", "lastTransitionTime": "2026-01-01T00:00:00Z",
                      "observedGeneration": 1}]
    other = {"type": "Synced", "status": "True"}
    second = ready_condition(first + [other], "Failed", "boom", None, "2026-01-02T00:00:00Z")
    assert second == [{"type": "Ready", "status": "False", "reason": "Failed", "message": "boom",
                       "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
                      other]
    third = ready_condition(second, "Ready", "", 2, "2026-01-03T00:00:00Z")
    assert third[0] == {"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                        "lastTransitionTime": "2026-01-03T00:00:00Z", "observedGeneration": 2}


def test_bounded_says_how_much_was_cut():
    assert bounded("short", 10) == "short"
    cut = bounded("x" * 5000, 1024)
    assert len(cut) <= 1024 and cut.endswith("... (%d more characters)" % (5000 - 1024))


def test_conditions_and_messages_stay_within_the_crd():
    old = [{"type": "Synced%d" % i, "status": "True", "message": "m" * 5000} for i in range(20)]
    conditions = ready_condition(old, "Failed", "y" * 100000, 1, "2026-01-01T00:00:00Z")
    assert len(conditions) == STATUS_LIMITS["conditions"]
    assert all(len(c["message"]) <= STATUS_LIMITS["message"] for c in conditions)


def test_status_limits_are_what_the_crd_says():
    status = crd_schema()["properties"]["status"]["properties"]
    assert status["message"]["maxLength"] == STATUS_LIMITS["message"]
    assert status["warnings"]["maxItems"] == STATUS_LIMITS["warnings"]
    assert status["warnings"]["items"]["maxLength"] == STATUS_LIMITS["warning"]
    assert status["conditions"]["maxItems"] == STATUS_LIMITS["conditions"]
    condition = status["conditions"]["items"]["properties"]
    assert condition["message"]["maxLength"] == STATUS_LIMITS["message"]
    assert condition["reason"]["maxLength"] == STATUS_LIMITS["reason"]
    assert condition["type"]["maxLength"] == STATUS_LIMITS["type"]
