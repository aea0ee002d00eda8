"""Stand-in for st2tests.mocks.datastore: the datastore in memory, with st2's key naming.

Like st2tests' mock it keeps any name: st2api's refusals are applied once, above it, by
tests/sensor_service.py (tests/st2_datastore_rules.py), whichever of the two is installed.
"""

import threading

__all__ = ["MockDatastoreService"]


class KeyValuePair(object):
    def __init__(self, name, value):
        self.id = name
        self.name = name
        self.value = value


class MockDatastoreService(object):
    """Local keys are named "<pack>.<class>:<name>", as StackStorm names them."""

    def __init__(self, logger, pack_name, class_name, api_username=None):
        self._logger = logger
        self._pack_name = pack_name
        self._class_name = class_name
        self._username = api_username or "admin"
        self._datastore_items = {}
        self._lock = threading.Lock()

    def _get_full_key_prefix(self, local, prefix=None):
        if not local:
            return prefix
        return "%s.%s:%s" % (self._pack_name, self._class_name, prefix or "")

    def _get_full_key_name(self, name, local):
        return "%s.%s:%s" % (self._pack_name, self._class_name, name) if local else name

    def list_values(self, local=True, limit=None, prefix=None, offset=0):
        key_prefix = self._get_full_key_prefix(local=local, prefix=prefix)
        with self._lock:
            items = list(self._datastore_items.items())
        return [kvp for key, kvp in items if not key_prefix or key.startswith(key_prefix)]

    def get_value(self, name, local=True, scope="system", decrypt=False):
        with self._lock:
            kvp = self._datastore_items.get(self._get_full_key_name(name, local))
        return kvp.value if kvp else None

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        if not isinstance(value, str):  # the st2 API stores strings only
            raise ValueError("datastore values must be strings, got %s" % type(value).__name__)
        full = self._get_full_key_name(name, local)
        with self._lock:
            self._datastore_items[full] = KeyValuePair(full, value)
        return True

    def delete_value(self, name, local=True, scope="system"):
        with self._lock:
            return self._datastore_items.pop(self._get_full_key_name(name, local), None) is not None
