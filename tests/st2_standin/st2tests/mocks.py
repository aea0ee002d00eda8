"""Stand-ins for st2tests.mocks.{action,sensor,datastore}: datastore in memory, triggers kept."""

import logging
import threading

__all__ = ["MockDatastore", "MockActionService", "MockSensorService"]


class _KeyValuePair(object):
    def __init__(self, name, value):
        self.id = name
        self.name = name
        self.value = value


class MockDatastore(object):
    """Datastore with StackStorm's key naming: local keys are prefixed "<pack>.<class>:"."""

    def __init__(self, pack, class_name):
        self._pack = pack
        self._class_name = class_name
        self._items = {}
        self._lock = threading.Lock()

    def _full_name(self, name, local):
        return "%s.%s:%s" % (self._pack, self._class_name, name) if local else name

    def list_values(self, local=True, prefix=None):
        key_prefix = self._full_name(prefix or "", local)
        with self._lock:
            return [kvp for key, kvp in self._items.items() if key.startswith(key_prefix)]

    def get_value(self, name, local=True, scope="system", decrypt=False):
        with self._lock:
            kvp = self._items.get(self._full_name(name, local))
        return kvp.value if kvp else None

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        if ttl:
            raise ValueError("MockDatastore.set_value doesn't support \"ttl\" argument")
        if not isinstance(value, str):
            raise ValueError("datastore values must be strings, got %s" % type(value).__name__)
        full = self._full_name(name, local)
        with self._lock:
            self._items[full] = _KeyValuePair(full, value)
        return True

    def delete_value(self, name, local=True, scope="system"):
        with self._lock:
            return self._items.pop(self._full_name(name, local), None) is not None


class MockActionService(MockDatastore):
    def __init__(self, pack, class_name):
        super().__init__(pack, class_name)
        self.logger = logging.getLogger("st2tests.action.%s" % class_name)


class MockSensorService(MockDatastore):
    def __init__(self, pack, class_name):
        super().__init__(pack, class_name)
        self.dispatched_triggers = []

    def get_logger(self, name):
        return logging.getLogger(name)

    def dispatch(self, trigger, payload=None, trace_tag=None):
        self.dispatch_with_context(trigger, payload=payload, trace_context=trace_tag)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        with self._lock:
            self.dispatched_triggers.append(
                {"trigger": trigger, "payload": payload, "trace_context": trace_context}
            )
