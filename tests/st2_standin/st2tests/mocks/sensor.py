"""Stand-in for st2tests.mocks.sensor: MockSensorWrapper and MockSensorService."""

import threading

from st2tests.mocks._service import DatastoreBacked

__all__ = ["MockSensorWrapper", "MockSensorService"]


class MockSensorWrapper(object):
    def __init__(self, pack, class_name):
        self._pack = pack
        self._class_name = class_name


class MockSensorService(DatastoreBacked):
    def __init__(self, sensor_wrapper):
        self._sensor_wrapper = sensor_wrapper
        self.dispatched_triggers = []
        self._dispatch_lock = threading.Lock()
        self._init_datastore(sensor_wrapper)

    def get_logger(self, name):
        return self._logger

    def dispatch(self, trigger, payload=None, trace_tag=None):
        return self.dispatch_with_context(trigger, payload=payload, trace_context=trace_tag)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        item = {"trigger": trigger, "payload": payload, "trace_context": trace_context}
        with self._dispatch_lock:
            self.dispatched_triggers.append(item)
        return item
