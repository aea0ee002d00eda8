"""The status a Database is given: what aws.database_set_status writes, composed without I/O.

``compose`` turns the current status and what a workflow reports (phase, message, fields,
warnings, outcome) into the merge patch for the status subresource, with the Ready and
Progressing conditions and, for a recoverable failure, the retry schedule; ``unchanged`` says
whether it would change anything; ``transition_event`` and ``extra_event`` say which Kubernetes
Events go with it. The action (actions/database_set_status.py) reads, patches and records.
"""

from lib.database.objects import (STATUS_LIMITS, bounded, progressing_condition,
                                  ready_condition, retry_schedule, rfc3339)
from lib.kube.events import MESSAGE_LIMIT, REASON

__all__ = ["STATUS_FIELDS", "OUTCOMES", "CONDITION_REASONS", "RETRY_DEFAULTS", "check_inputs",
           "shown_warnings", "compose", "unchanged", "transition_event", "extra_event"]

STATUS_FIELDS = ("dbInstanceIdentifier", "endpoint", "port", "vaultPath", "consulKey")
OUTCOMES = ("", "recoverable", "terminal")
# The Ready condition's reason of a Failed phase, by outcome ("" keeps the phase).
CONDITION_REASONS = {"recoverable": "Recoverable", "terminal": "Terminal"}
RETRY_DEFAULTS = {"retry_initial_seconds": 30, "retry_max_seconds": 900}


def check_inputs(phase, fields, outcome, event_reason):
    """(fields, outcome, event_reason) checked, each error naming the parameter; the outcome
    only qualifies a failure ("" for any other phase)."""
    fields = fields or {}
    unknown = sorted(set(fields) - set(STATUS_FIELDS))
    if unknown:
        raise ValueError("fields: unknown status fields %s; expected some of %s"
                         % (", ".join(unknown), ", ".join(STATUS_FIELDS)))
    outcome = outcome or ""
    if outcome not in OUTCOMES:
        raise ValueError("outcome: expected \"\", \"recoverable\" or \"terminal\", got %r"
                         % (outcome,))
    event_reason = event_reason or ""
    if event_reason and not (isinstance(event_reason, str) and REASON.match(event_reason)):
        raise ValueError("event_reason: expected a CamelCase reason of 1-128 letters and "
                         "digits such as DriftRepaired, got %r" % (bounded(event_reason, 80),))
    return fields, outcome if phase == "Failed" else "", event_reason


def shown_warnings(warnings):
    """``warnings`` within the CRD's limits (each bounded, the last one counting the rest), or
    None when none were given: a status too large for the API server (or etcd) would be
    refused, and the resource left without any."""
    if warnings is None:
        return None
    shown = [bounded(w, STATUS_LIMITS["warning"]) for w in warnings]
    if len(shown) > STATUS_LIMITS["warnings"]:
        shown = shown[:STATUS_LIMITS["warnings"] - 1] + [
            "%d more warnings" % (len(shown) - STATUS_LIMITS["warnings"] + 1)]
    return shown


def merged(target, patch):
    """``target`` after the JSON merge patch ``patch`` (RFC 7386), as a new value."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merged(result.get(key), value)
    return result


def _absent_if_empty(status):
    """``status`` with empty strings written as absent: "" means "none", and some API servers
    (kube-apiserver 1.20 as the tests build it) turn "" in a custom resource into null and
    refuse the patch. A top-level "" becomes null (the merge patch removes the field)."""
    status = {key: None if value == "" else value for key, value in status.items()}
    if isinstance(status.get("warnings"), list):
        status["warnings"] = [w for w in status["warnings"] if w != ""]
    for key in ("conditions",):
        if isinstance(status.get(key), list):
            status[key] = [{k: v for k, v in item.items() if v != ""}
                           if isinstance(item, dict) else item for item in status[key]]
    if isinstance(status.get("retry"), dict):
        status["retry"] = {k: v for k, v in status["retry"].items() if v != ""}
    return status


def _ready_reason(status):
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("reason")
    return None


def compose(current, fields, phase, message, observed_generation, warnings, outcome, now,
            limits=None, rand=None):
    """(status merge patch, retry or None, retry delay or None) for a Database whose status is
    ``current``, at ``now`` (aware datetime). ``message`` and ``warnings`` as shown (bounded);
    ``limits``: (retry_initial_seconds, retry_max_seconds) for a recoverable outcome."""
    status = dict(fields)
    status.update(phase=phase, message=message)
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    if warnings is not None:
        status["warnings"] = warnings
    retry = delay = None
    if outcome == "recoverable":
        retry, delay = retry_schedule(current.get("retry"), message, now, *limits, rand=rand)
        status["retry"] = retry
    elif phase == "Ready" or outcome == "terminal":
        status["retry"] = None  # merge patch: removed
    status["conditions"] = progressing_condition(
        ready_condition(current.get("conditions"), phase, message, observed_generation,
                        rfc3339(now), reason=CONDITION_REASONS.get(outcome)),
        phase, message, observed_generation, rfc3339(now))
    return _absent_if_empty(status), retry, delay


def unchanged(current, status):
    """True when the merge patch ``status`` would leave ``current`` as it is."""
    return merged(current, status) == current


def transition_event(current, status, outcome, retry):
    """(reason, message, type) of the event for this change of status, or None."""
    phase, message = status["phase"], status["message"] or ""
    if retry is not None:
        suffix = " (retry %d at %s)" % (retry["attempts"], retry["nextAttemptAt"])
        text = bounded(message or "failed", MESSAGE_LIMIT - len(suffix)) + suffix
        return ("RetryScheduled", text, "Warning")
    changed = current.get("phase") != phase
    if phase == "Failed":
        changed = changed or (current.get("message") or "") != message or (
            _ready_reason(current) != CONDITION_REASONS.get(outcome, phase))
        return ("Failed", message or "phase Failed", "Warning") if changed else None
    return (phase, message or "phase %s" % phase, "Normal") if changed else None


def extra_event(phase, message, event_reason, event_message):
    """(reason, message, type) of the event a workflow asked for, or None."""
    if not event_reason:
        return None
    return (event_reason, event_message or message or "phase %s" % phase,
            "Warning" if phase == "Failed" else "Normal")
