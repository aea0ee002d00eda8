"""What StackStorm does with a sensor's or action's datastore calls, where st2tests' mocks differ.

st2tests' MockDatastoreService keeps any name in a dict. The real services
(st2common/st2common/services/datastore.py, DatastoreService) go through st2client to st2api:

- st2client puts the full key name into the URL path unquoted (st2client/st2client/models/core.py,
  ``get_by_id``/``update``/``delete``: ``"/keys/%s" % id``) and st2api routes ``/v1/keys/{name}``
  with one path segment (st2common/st2common/router.py, routes' default ``[^/]+``). A name with
  "/" (``%2F`` too: the server decodes it first), "?", "#", "%" or white space never reaches the
  key: PUT answers 404, so ``set_value`` raises; GET answers 404, which ``get_value`` turns into
  None, as it turns every error into None (it logs the exception).
- ``set_value`` stores ``str(value)``, in one MongoDB document (st2common/st2common/models/db/
  keyvalue.py ``KeyValuePairDB``): a value near MongoDB's 16 MiB document limit fails with
  DocumentTooLarge, which st2api answers with 500. Values are not otherwise limited.
- ``ttl``: st2 expires the key after that many seconds; st2tests' mock ignores it with a warning.
  The pack sets no TTL.
- ``list_values`` is one GET /v1/keys with ``limit`` (default and, for a user who is not an
  admin, maximum ``[api] max_page_size``, 100) and ``offset``
  (st2api/st2api/controllers/resource.py ``validate_limit_query_param``): a caller that wants
  every key must page. Unlike ``get_value`` it raises on failure.

``DatastoreRules`` applies that to a service whose ``get_value``/``set_value``/``delete_value``
take the short (local) name: tests/sensor_service.py layers it over st2tests' mock sensor service
(or the stand-in's, which keeps any name as st2tests' does), so the sensor is tested with the
names StackStorm accepts whether st2tests or the stand-in is installed.
"""

import re

import requests

__all__ = ["DatastoreRules", "key_name_problem", "MAX_PAGE_SIZE"]

MAX_PAGE_SIZE = 100  # st2's [api] max_page_size default

# MongoDB's BSON document limit, less room for the key's other fields.
MAX_VALUE_BYTES = 16 * 1024 * 1024 - 64 * 1024
# What survives as one unquoted URL path segment: RFC 3986 pchar without "%".
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]+$")


def key_name_problem(full_name):
    """None when st2api can address ``full_name``, else why not."""
    if not isinstance(full_name, str) or not full_name:
        return "a key name must be a non-empty string, got %r" % (full_name,)
    if not _SEGMENT.match(full_name):
        bad = sorted({c for c in full_name if not _SEGMENT.match(c)})
        return ("st2api cannot address key %r: %s in a key name; the name is one URL path "
                "segment (/v1/keys/{name}), so the API answers 404" % (full_name, " ".join(
                    repr(c) for c in bad)))
    return None


def _http_error(status, reason, method, full_name, problem):
    """What st2client raises for an error answer (``handle_error``: raise_for_status)."""
    response = requests.Response()
    response.status_code = status
    response.reason = "%s\nMESSAGE: %s" % (reason, problem)
    response.url = "http://127.0.0.1:9101/v1/keys/%s" % full_name
    kind = "Client" if status < 500 else "Server"
    return requests.exceptions.HTTPError("%d %s Error: %s for url: %s %s"
                                         % (status, kind, response.reason, method, response.url),
                                         response=response)


class DatastoreRules(object):
    """Mixin over a datastore service: calls st2api would refuse fail as they fail there."""

    def _full_key_name(self, name, local):
        return self.datastore_service._get_full_key_name(  # pylint: disable=protected-access
            name=name, local=local)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        limit = limit or MAX_PAGE_SIZE
        if limit > MAX_PAGE_SIZE:
            raise requests.exceptions.HTTPError(
                '403 Client Error: Forbidden\nMESSAGE: Limit "%s" specified, maximum value is '
                '"%s"' % (limit, MAX_PAGE_SIZE))
        # The stores below (st2tests' MockDatastoreService, the stand-in's) keep no order but
        # insertion, like MongoDB's natural order, and ignore limit and offset.
        items = super().list_values(local=local, prefix=prefix)
        offset = offset or 0
        return list(items)[offset:offset + limit]

    def get_value(self, name, local=True, scope="system", decrypt=False):
        if key_name_problem(self._full_key_name(name, local)):
            return None  # GET answered 404: get_by_id returns None
        return super().get_value(name, local=local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        full_name = self._full_key_name(name, local)
        problem = key_name_problem(full_name)
        if problem:
            raise _http_error(404, "Not Found", "PUT", full_name, problem)
        value = str(value)
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise _http_error(500, "Internal Server Error", "PUT", full_name,
                              "DocumentTooLarge: a value of %d bytes does not fit a MongoDB "
                              "document" % len(value.encode("utf-8")))
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope,
                                 encrypt=encrypt)

    def delete_value(self, name, local=True, scope="system"):
        if key_name_problem(self._full_key_name(name, local)):
            return False  # DELETE answered 404: delete_value returns False
        return super().delete_value(name, local=local, scope=scope)
