"""What the action and sensor mock services share: datastore calls passed to the datastore."""

import logging
from unittest import mock

from st2tests.mocks.datastore import MockDatastoreService


class DatastoreBacked(object):
    """Like st2's services: a Mock logger (as st2tests' mocks have) and the datastore methods."""

    def _init_datastore(self, wrapper):
        # Like st2tests: a Mock logger, so tests can assert on calls.
        self._logger = mock.Mock(spec=logging.RootLogger)
        self._datastore_service = MockDatastoreService(
            logger=self._logger, pack_name=wrapper._pack, class_name=wrapper._class_name)

    @property
    def datastore_service(self):
        return self._datastore_service

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self._datastore_service.list_values(local=local, prefix=prefix, limit=limit,
                                                   offset=offset)

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self._datastore_service.get_value(name, local=local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        return self._datastore_service.set_value(name, value, ttl=ttl, local=local, scope=scope,
                                                 encrypt=encrypt)

    def delete_value(self, name, local=True, scope="system"):
        return self._datastore_service.delete_value(name, local=local, scope=scope)
