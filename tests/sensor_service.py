"""A sensor service for tests: real loggers, and StackStorm's checks where st2tests has none.

st2tests' MockSensorService hands sensors a Mock logger, keeps any datastore name and dispatches
any payload. This one, whether st2tests or the stand-in is installed:

- hands out real loggers, so tests can attach handlers (or use caplog);
- refuses datastore names as st2api does (tests/st2_datastore_rules.py);
- checks each dispatched payload against its trigger type's ``payload_schema`` in StackStorm's
  dialect (actions/lib/st2_schema.py) and, like StackStorm with ``[system]
  validate_trigger_payload`` on (st2common/st2common/services/trigger_dispatcher.py
  ``dispatch_with_context``), drops a payload that fails: it goes to ``rejected_triggers``
  instead of ``dispatched_triggers``.
"""

import logging

from lib.st2_schema import validate
from st2tests.mocks.sensor import MockSensorService, MockSensorWrapper
from tests.st2_datastore_rules import DatastoreRules
from tests.st2_rules_engine import trigger_types

__all__ = ["SensorService", "trigger_payload_schemas"]

_SCHEMAS = {}


def trigger_payload_schemas():
    """{"aws.<name>": payload_schema} of triggers/*.yaml."""
    if not _SCHEMAS:
        _SCHEMAS.update((ref, meta.get("payload_schema")) for ref, meta in trigger_types().items())
    return _SCHEMAS


class SensorService(DatastoreRules, MockSensorService):
    def __init__(self, pack="aws", class_name="CustomResourceSensor"):
        super().__init__(MockSensorWrapper(pack=pack, class_name=class_name))
        self.rejected_triggers = []

    def get_logger(self, name):
        return logging.getLogger(name)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        schema = trigger_payload_schemas().get(trigger)
        if schema:
            try:
                validate(payload, schema)
            except Exception as exc:  # pylint: disable=broad-except
                logging.getLogger(__name__).warning(
                    'Trigger payload validation failed, not dispatching a trigger "%s": %s',
                    trigger, exc)
                self.rejected_triggers.append({"trigger": trigger, "payload": payload,
                                               "error": str(exc)})
                return None
        return super().dispatch_with_context(trigger, payload=payload,
                                             trace_context=trace_context)
