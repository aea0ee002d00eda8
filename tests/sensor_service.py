"""A sensor service for tests that read what the sensor logged.

st2tests' MockSensorService hands sensors a Mock logger; this one hands out real loggers, so
tests can attach handlers (or use caplog) whether st2tests or its stand-in is in use.
"""

import logging

from st2tests.mocks.sensor import MockSensorService, MockSensorWrapper

__all__ = ["SensorService"]


class SensorService(MockSensorService):
    def __init__(self, pack="aws", class_name="CustomResourceSensor"):
        super().__init__(MockSensorWrapper(pack=pack, class_name=class_name))

    def get_logger(self, name):
        return logging.getLogger(name)
