"""Stand-in for st2common.runners.base_action (StackStorm 3.8 API)."""

import abc
import logging

__all__ = ["Action"]


class Action(metaclass=abc.ABCMeta):
    description = None

    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        self.action_service = action_service
        self.logger = logging.getLogger("st2.actions.python.%s" % self.__class__.__name__)

    @abc.abstractmethod
    def run(self, **kwargs):
        pass
