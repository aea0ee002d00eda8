"""Stand-in for st2tests.base: BaseActionTestCase and BaseSensorTestCase (StackStorm 3.8 API)."""

import unittest

from st2tests.mocks.action import MockActionService, MockActionWrapper
from st2tests.mocks.sensor import MockSensorService, MockSensorWrapper

__all__ = ["BaseActionTestCase", "BaseSensorTestCase"]


class BaseActionTestCase(unittest.TestCase):
    action_cls = None

    def setUp(self):
        super().setUp()
        self.action_service = MockActionService(
            MockActionWrapper(pack="tests", class_name=self.action_cls.__name__))

    def get_action_instance(self, config=None):
        # pylint: disable=not-callable
        return self.action_cls(config=config, action_service=self.action_service)


class BaseSensorTestCase(unittest.TestCase):
    sensor_cls = None

    def setUp(self):
        super().setUp()
        self.sensor_service = MockSensorService(
            MockSensorWrapper(pack="tests", class_name=self.sensor_cls.__name__))

    def get_sensor_instance(self, config=None, poll_interval=None):
        kwargs = {"sensor_service": self.sensor_service}
        if config:
            kwargs["config"] = config
        if poll_interval is not None:
            kwargs["poll_interval"] = poll_interval
        return self.sensor_cls(**kwargs)  # pylint: disable=not-callable

    def get_dispatched_triggers(self):
        return self.sensor_service.dispatched_triggers

    def get_last_dispatched_trigger(self):
        return self.sensor_service.dispatched_triggers[-1]

    def assertTriggerDispatched(self, trigger, payload=None, trace_context=None):
        for item in self.get_dispatched_triggers():
            if item["trigger"] != trigger:
                continue
            if payload and item["payload"] != payload:
                continue
            if trace_context and item["trace_context"] != trace_context:
                continue
            return True
        raise AssertionError('Trigger "%s" hasn\'t been dispatched' % trigger)
