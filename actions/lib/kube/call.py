"""Any operation of the official ``kubernetes`` client, by API class and method, as plain JSON.

What ``aws.kubernetes_call`` is made of, in the way ``lib.aws`` makes ``aws.boto3action``:

- ``resolve_api(name)``: ``CoreV1Api`` (also ``corev1api``, ``core_v1``, ``CoreV1``) -> the
  class name; an unknown name raises ``KubeInputError`` naming the closest classes;
- ``resolve_method(api, name)``: ``list_namespaced_secret`` (also ``listNamespacedSecret``);
  unknown names name the closest methods of that class;
- ``custom_resource_method(verb, namespaced)``: ``list``/``get``/``create``/... of a custom
  resource given by group/version/plural -> the ``CustomObjectsApi`` method;
- ``check_params(api, method, params)``: the parameters the method takes (snake_case or the
  API's camelCase, ``continue`` for ``_continue``), required ones present, unknown ones named
  with the closest valid ones;
- ``call(api_client, api, method, params, ...)``: one call (or every page), the API server's
  JSON as it sent it (never the client's model objects), errors with the API server's HTTP
  status, reason and message (``KubeCallError``); a custom resource's plain-text 404 (nothing
  serves that group/version/plural) gets the closest served ones from discovery
  (``unserved_resource``);
- ``redact(result, keep)``: Secrets' data, Secrets' last-applied annotation, TokenRequest and
  TokenReview tokens replaced by ``********``; with ``keep`` the values go to a separate
  mapping (the action returns it under ``secret_data``, which StackStorm masks).

The ``kubernetes`` package is imported only inside the functions that need it (about 0.4 s):
importing this module costs nothing.
"""

import copy
import difflib
import inspect
import json
import logging
import re

from lib.name_hints import snake, squash, suggest

__all__ = ["CLIENT_ONLY_PARAMS", "CUSTOM_VERBS", "KubeCallError", "KubeInputError", "MASK",
           "PATCH_TYPES", "api_answer", "api_names", "call", "check_params",
           "custom_resource_method", "deep_merge", "method_names", "method_params",
           "plain_answer", "quiet_client_loggers", "redact", "resolve_api", "resolve_method",
           "scrub_message", "unserved_resource"]

LOG = logging.getLogger(__name__)
MASK = "********"  # what StackStorm shows for masked values
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Parameters of the generated client that are not the operation's (the call sets them itself).
CLIENT_ONLY_PARAMS = ("async_req", "_return_http_data_only", "_preload_content",
                      "_request_timeout", "_request_auth", "_content_type", "_headers")
PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
# verb -> (namespaced method, cluster-scoped method) of CustomObjectsApi
CUSTOM_VERBS = {
    "list": ("list_namespaced_custom_object", "list_cluster_custom_object"),
    "get": ("get_namespaced_custom_object", "get_cluster_custom_object"),
    "create": ("create_namespaced_custom_object", "create_cluster_custom_object"),
    "replace": ("replace_namespaced_custom_object", "replace_cluster_custom_object"),
    "patch": ("patch_namespaced_custom_object", "patch_cluster_custom_object"),
    "delete": ("delete_namespaced_custom_object", "delete_cluster_custom_object"),
    "delete_collection": ("delete_collection_namespaced_custom_object",
                          "delete_collection_cluster_custom_object"),
    "get_status": ("get_namespaced_custom_object_status", "get_cluster_custom_object_status"),
    "patch_status": ("patch_namespaced_custom_object_status",
                     "patch_cluster_custom_object_status"),
    "replace_status": ("replace_namespaced_custom_object_status",
                       "replace_cluster_custom_object_status"),
}
# Streams: one answer per call is all an action can give.
_STREAMING = re.compile(r"^(watch_|connect_\w*_(exec|attach|portforward)$)")
_PARAM_DOC = re.compile(r":param (\w+):")
_CLIENT_LOGGERS = ("kubernetes.client.rest", "kubernetes", "urllib3")


class KubeInputError(ValueError):
    """The call's input is wrong: unknown class, method or parameter, a missing parameter."""


class KubeCallError(RuntimeError):
    """The API server refused the call or could not be reached."""

    def __init__(self, message, status=None, reason=None):
        super().__init__(message)
        self.status = status
        self.reason = reason


def quiet_client_loggers():
    """``kubernetes.client.rest`` logs every response body at DEBUG (Secrets included), and
    StackStorm runs python actions at DEBUG by default: keep the client's loggers at INFO."""
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


# --- API classes and methods ------------------------------------------------------------------

def _client_module():
    import kubernetes.client  # pylint: disable=import-outside-toplevel

    return kubernetes.client


def api_names():
    """Every API class of ``kubernetes.client`` (``CoreV1Api``, ``AppsV1Api``, ...)."""
    module = _client_module()
    return sorted(name for name in dir(module)
                  if name.endswith("Api") and inspect.isclass(getattr(module, name))
                  and name != "ApiClient")


def resolve_api(name):
    """The class name for ``name``: exact, or differing in case and underscores, with or
    without the ``Api`` suffix (``core_v1`` -> ``CoreV1Api``)."""
    names = api_names()
    if not isinstance(name, str) or not name.strip():
        raise KubeInputError('api must name an API class of kubernetes.client, e.g. CoreV1Api, '
                             'AppsV1Api, RbacAuthorizationV1Api (or leave it empty and give '
                             'group, version and plural for a custom resource)')
    name = name.strip()
    if name in names:
        return name
    squashed = {squash(n): n for n in names}
    for candidate in (squash(name), squash(name) + "api"):
        if candidate in squashed:
            return squashed[candidate]
    wanted = name if name.lower().endswith("api") else name + "Api"
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6) or [
        squashed[c] for c in difflib.get_close_matches(squash(wanted), list(squashed), n=3,
                                                       cutoff=0.6)]
    raise KubeInputError('kubernetes.client has no API class "%s"%s (it has %d, e.g. '
                         "CoreV1Api, AppsV1Api, BatchV1Api, NetworkingV1Api, "
                         "RbacAuthorizationV1Api, CustomObjectsApi)"
                         % (name, "; did you mean: %s?" % ", ".join(close) if close else "",
                            len(names)))


def method_names(api):
    """Public operations of API class ``api`` (``*_with_http_info`` twins left out)."""
    cls = getattr(_client_module(), api)
    return sorted(name for name, _ in inspect.getmembers(cls, inspect.isfunction)
                  if not name.startswith("_") and not name.endswith("_with_http_info"))


def resolve_method(api, name):
    """The method of ``api`` for ``name`` (snake_case or camelCase); unknown names name the
    closest methods, streams (watch, exec, attach, port-forward) are refused."""
    methods = method_names(api)
    if not isinstance(name, str) or not name.strip():
        raise KubeInputError("method must name an operation of %s, e.g. %s"
                             % (api, ", ".join(methods[:3])))
    name = name.strip()
    snake_name = snake(name)
    for candidate in (name, snake_name):
        if candidate in methods:
            if _STREAMING.match(candidate):
                raise KubeInputError(
                    "%s.%s is a stream (watch, exec, attach or port-forward); an action returns "
                    "one answer: list instead, or watch with a sensor (aws.CustomResourceSensor)"
                    % (api, candidate))
            return candidate
    hint = suggest(snake_name, methods)
    if not hint:  # e.g. get_secret: the operations on the same kind
        noun = snake_name.rsplit("_", 1)[-1]
        same = [m for m in methods if m.endswith("_" + noun)][:8]
        hint = "; its methods on %s: %s" % (noun, ", ".join(same)) if same else ""
    raise KubeInputError('%s has no method "%s"%s' % (api, name, hint))


def custom_resource_method(verb, namespaced):
    """The ``CustomObjectsApi`` method of ``verb`` (list, get, create, replace, patch, delete,
    delete_collection, get_status, patch_status, replace_status) or of its full name."""
    if not isinstance(verb, str) or not verb.strip():
        raise KubeInputError("method must be one of %s for a custom resource"
                             % ", ".join(CUSTOM_VERBS))
    verb = snake(verb.strip())
    if verb in CUSTOM_VERBS:
        return CUSTOM_VERBS[verb][0 if namespaced else 1]
    full = [m for pair in CUSTOM_VERBS.values() for m in pair]
    if verb in full:
        return verb
    raise KubeInputError('"%s" is not a custom-resource method: use one of %s (a namespace '
                         "in params picks the namespaced form)%s"
                         % (verb, ", ".join(CUSTOM_VERBS), suggest(verb, list(CUSTOM_VERBS))))


def method_params(api, method):
    """``(required, optional)`` parameter names of ``api.method`` as the client names them."""
    function = getattr(getattr(_client_module(), api), method)
    signature = inspect.signature(function)
    required = [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]
    documented = _PARAM_DOC.findall(function.__doc__ or "")
    optional = [p for p in dict.fromkeys(documented)
                if p not in required and p not in CLIENT_ONLY_PARAMS]
    return required, optional


def check_params(api, method, params):
    """``params`` with the names the client uses: API names in camelCase (``labelSelector``)
    become snake_case, ``continue`` becomes ``_continue``. Unknown names raise
    ``KubeInputError`` naming the closest valid ones; so does a missing required one."""
    if not isinstance(params, dict):
        raise KubeInputError("params must be an object of %s.%s's parameters, got %s"
                             % (api, method, type(params).__name__))
    required, optional = method_params(api, method)
    valid = required + optional
    result, unknown = {}, []
    for key, value in params.items():
        name = key if key in valid else snake(str(key))
        if name == "continue":
            name = "_continue"
        if name not in valid:
            unknown.append(str(key))
            continue
        if name in result:
            raise KubeInputError("%s.%s: params gives %s twice (as %s)"
                                 % (api, method, name, " and ".join(
                                     sorted(k for k in params if k == name or snake(k) == name))))
        result[name] = value
    if unknown:
        named = []
        for key in sorted(unknown):
            close = difflib.get_close_matches(snake(key), valid, n=3, cutoff=0.6)
            named.append("%s (closest: %s)" % (key, ", ".join(close)) if close else key)
        raise KubeInputError("%s.%s has no parameter %s; it takes %s"
                             % (api, method, ", ".join(named), ", ".join(
                                 ["%s (required)" % p for p in required] + optional)))
    missing = [name for name in required if result.get(name) in (None, "")]
    if missing:
        raise KubeInputError("%s.%s needs parameter(s) %s in params (required: %s)"
                             % (api, method, ", ".join(missing), ", ".join(required)))
    if "body" in result and not isinstance(result["body"], (dict, list)):
        raise KubeInputError("%s.%s: params.body must be the object as JSON (an object, or a "
                             "list of JSON-patch operations), got %s"
                             % (api, method, type(result["body"]).__name__))
    for name in ("watch", "follow"):
        if result.get(name) in (True, "true", "True"):
            raise KubeInputError("%s.%s: %s=true makes a stream; an action returns one answer"
                                 % (api, method, name))
    return result


def deep_merge(base, extra):
    """``base`` with ``extra`` merged in (objects merged key by key, anything else replaced)."""
    result = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# --- the call ---------------------------------------------------------------------------------

def _content_type(api, method, params, patch_type):
    if not method.startswith("patch_"):
        if patch_type:
            raise KubeInputError("patch_type applies to patch methods only; %s.%s is not one"
                                 % (api, method))
        return None
    if patch_type:
        if patch_type not in PATCH_TYPES:
            raise KubeInputError("patch_type must be one of %s, got %r"
                                 % (", ".join(PATCH_TYPES), patch_type))
        if patch_type == "strategic" and api == "CustomObjectsApi":
            raise KubeInputError("custom resources take no strategic merge patch: use "
                                 "patch_type merge, json or apply")
        if patch_type == "apply" and not params.get("field_manager"):
            raise KubeInputError("patch_type apply (server-side apply) needs field_manager in "
                                 "params, e.g. st2")
        if patch_type == "json" and not isinstance(params.get("body"), list):
            raise KubeInputError("patch_type json needs params.body to be a list of JSON-patch "
                                 'operations, e.g. [{"op": "replace", "path": "/spec/replicas", '
                                 '"value": 2}]')
        return PATCH_TYPES[patch_type]
    if isinstance(params.get("body"), list):
        return PATCH_TYPES["json"]
    return PATCH_TYPES["merge" if api == "CustomObjectsApi" else "strategic"]


def _decode(response):
    data = response.data
    if not data:
        return {}
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}  # logs, proxied answers: the body as text


# The API server's decode errors quote the request body around the fault ("error found in #10
# byte of ...|"password": "..."|..., bigger context ...|...|..."): a Secret's values.
_QUOTED_BODY = re.compile(r"(, )?error found in #(\d+) byte of \.\.\.\|.*?\|\.\.\."
                          r"(, bigger context \.\.\.\|.*?\|\.\.\.)?", re.DOTALL)


def scrub_message(message):
    """An API server message without the quoted parts of the request body."""
    return _QUOTED_BODY.sub(lambda m: "%serror found at byte %s of the request (not shown: it "
                                      "may hold secrets)" % (m.group(1) or "", m.group(2)),
                            message or "")


def api_answer(exc):
    """``(reason, message)`` of an ``ApiException`` with an HTTP status: the API server's
    Status reason (else the client's) and its message without quoted request bodies."""
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        return exc.reason, ""
    message = body.get("message")
    return (body.get("reason") or exc.reason,
            scrub_message(message) if isinstance(message, str) else "")


def plain_answer(exc):
    """True when an ``ApiException``'s body is not the API server's JSON Status (e.g. the plain
    text ``404 page not found`` of a path nothing serves)."""
    try:
        body = json.loads(exc.body) if exc.body else None
    except (TypeError, ValueError):
        return True
    return not isinstance(body, dict)


def _discovery(api_client, path, timeout):
    response = api_client.call_api(
        path, "GET", header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout)
    return json.loads(response.data)


def unserved_resource(api_client, group, version, plural, timeout=10):
    """Why ``<plural>.<group>/<version>`` gets a plain-text 404: ``"... is not served by the API
    server at <host>; served: <the closest served group/version/plural names>"``, from the API
    server's discovery (``/apis``, then ``/apis/<group>/<version>`` of the group or of the
    closest groups). None when discovery cannot be read or shows the resource served."""
    from kubernetes.client.exceptions import \
        ApiException  # pylint: disable=import-outside-toplevel
    from urllib3.exceptions import HTTPError  # pylint: disable=import-outside-toplevel

    wanted = "%s.%s/%s" % (plural, group, version)
    head = "%s is not served by the API server at %s; served: " % (
        wanted, api_client.configuration.host)
    try:
        groups = {}
        for entry in _discovery(api_client, "/apis", timeout).get("groups") or []:
            groups[entry.get("name")] = [v.get("groupVersion") for v in entry.get("versions")
                                         or [] if v.get("groupVersion")]
        close_groups = [group] if group in groups else difflib.get_close_matches(
            group, [g for g in groups if g], n=3, cutoff=0.6)
        if not close_groups:
            return head + "no group close to %s (ApisApi get_api_versions lists them)" % group
        names = []
        for group_version in [gv for g in close_groups for gv in groups[g]]:
            resources = _discovery(api_client, "/apis/" + group_version, timeout)
            names += ["%s.%s" % (r.get("name"), group_version)
                      for r in resources.get("resources") or [] if "/" not in r.get("name", "/")]
    except (ApiException, HTTPError, ValueError, AttributeError, TypeError):
        return None  # discovery unreadable (e.g. not allowed): the plain answer stays
    if wanted in names:
        return None
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.6) or names[:5]
    return head + (", ".join(close) or "nothing in %s" % ", ".join(close_groups))


def _api_error(what, exc, where, hint=None):
    """The API server's status, reason and message from an ``ApiException`` (``hint``: what
    to say when the answer has no message of its own)."""
    status = exc.status
    if not status:  # raised by the client itself: TLS failures
        return KubeCallError("%s failed: cannot reach %s: %s"
                             % (what, where, str(exc.reason).split("\n")[-1][:300]))
    reason, message = api_answer(exc)
    text = "%s failed on %s: the API server answered %s %s" % (what, where, status, reason)
    if message:
        text += ": %s" % message[:500]
    elif hint:
        text += ": %s" % hint
    if status == 404 and message == "the server could not find the requested resource":
        text += (" (the API server does not serve this API group/version: check its "
                 "Kubernetes version with VersionApi get_code)")
    elif status == 401:
        text += " (the credentials of the cluster's pack config were refused)"
    return KubeCallError(text, status=status, reason=reason)


def call(api_client, api, method, params, patch_type="", paginate=False, timeout=60,
         where="the API server"):
    """``api.method(**params)`` on ``api_client``; returns the API server's JSON answer.

    With ``paginate`` (list methods only) every page is fetched (``limit`` 500 unless given)
    and the items merged into the first page's answer, without ``continue``.
    Raises ``KubeInputError`` or ``KubeCallError`` (``status`` and ``reason`` set from the
    API server's answer); messages name ``api.method`` and ``where`` (the cluster).
    """
    from kubernetes.client.exceptions import (  # pylint: disable=import-outside-toplevel
        ApiException, ApiTypeError, ApiValueError)
    from urllib3.exceptions import HTTPError  # pylint: disable=import-outside-toplevel

    quiet_client_loggers()
    what = "%s.%s" % (api, method)
    if paginate and not method.startswith("list_"):
        raise KubeInputError("paginate applies to list methods only; %s is not one" % what)
    content_type = _content_type(api, method, params, patch_type)
    function = getattr(getattr(_client_module(), api)(api_client), method)
    kwargs = dict(params, _preload_content=False, _request_timeout=timeout)
    if content_type:
        kwargs["_content_type"] = content_type
    if paginate:
        kwargs.setdefault("limit", 500)
    pages = []
    try:
        while True:
            page = _decode(function(**kwargs))
            pages.append(page)
            token = (page.get("metadata") or {}).get("continue") if paginate else None
            if not token:
                break
            kwargs["_continue"] = token
    except ApiException as exc:
        hint = None
        if exc.status == 404 and api == "CustomObjectsApi" and plain_answer(exc):
            hint = unserved_resource(api_client, params.get("group"), params.get("version"),
                                     params.get("plural"), timeout=timeout)
        raise _api_error(what, exc, where, hint) from None
    except (ApiTypeError, ApiValueError) as exc:
        raise KubeInputError("%s: %s" % (what, exc)) from None
    except HTTPError as exc:  # connection refused, TLS, timeouts
        raise KubeCallError("%s failed: cannot reach %s: %s" % (
            what, where, str(getattr(exc, "reason", None) or exc)[:300])) from None
    result = pages[0]
    if len(pages) > 1:
        result["items"] = [item for page in pages for item in page.get("items") or []]
    if paginate and isinstance(result.get("metadata"), dict):
        result["metadata"].pop("continue", None)
        result["metadata"].pop("remainingItemCount", None)
    LOG.debug("%s on %s: %d page(s)", what, where, len(pages))
    return result


# --- secrets ----------------------------------------------------------------------------------

def _ref(obj):
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name") or "?"
    return "%s/%s" % (namespace, name) if namespace else name


def _redact_object(obj, kind, keep, found):
    if kind == "Secret":
        data = obj.get("data")
        if isinstance(data, dict) and data:
            if keep:
                found[_ref(obj)] = dict(data)
            obj["data"] = {key: MASK for key in data}
        if isinstance(obj.get("stringData"), dict):
            obj["stringData"] = {key: MASK for key in obj["stringData"]}
        annotations = (obj.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = MASK  # kubectl apply keeps the data there too
    elif kind == "TokenRequest":
        status = obj.get("status")
        if isinstance(status, dict) and status.get("token"):
            if keep:
                found[_ref(obj)] = {"token": status["token"]}
            status["token"] = MASK
    elif kind == "TokenReview":
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("token"):
            spec["token"] = MASK


def redact(result, keep=False):
    """``(result, secret_data)``: ``result`` with every secret value replaced by ``********``
    (in place); ``secret_data`` maps ``namespace/name`` to the values taken out when ``keep``
    (Secrets: their ``data``, base64 as the API server sends it; TokenRequests: ``token``),
    else it is empty. Lists (``SecretList``, ``List``) are redacted item by item."""
    found = {}
    if isinstance(result, dict):
        kind = result.get("kind")
        items = result.get("items")
        if isinstance(items, list) and isinstance(kind, str) and kind.endswith("List"):
            item_kind = kind[:-len("List")]
            for item in items:
                if isinstance(item, dict):
                    _redact_object(item, item.get("kind") or item_kind, keep, found)
        else:
            _redact_object(result, kind, keep, found)
    return result, found
