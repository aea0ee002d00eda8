"""Stand-in for st2tests.mocks.action: MockActionWrapper and MockActionService."""

from st2tests.mocks._service import DatastoreBacked

__all__ = ["MockActionWrapper", "MockActionService"]


class MockActionWrapper(object):
    def __init__(self, pack, class_name):
        self._pack = pack
        self._class_name = class_name


class MockActionService(DatastoreBacked):
    def __init__(self, action_wrapper):
        self._action_wrapper = action_wrapper
        self._init_datastore(action_wrapper)
