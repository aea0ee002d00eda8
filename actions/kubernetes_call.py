"""aws.kubernetes_call: call any operation of the official kubernetes client, as plain JSON.

Everything is checked before the call (API class, method, parameters, patch type), so a typo
never reaches the API server. Nothing here is written per kind: every API class of the
installed client works, and custom resources by group/version/plural.
"""

from lib.action import BaseAction
from lib.kube.api import api_client_from_config
from lib.kube.call import (KubeInputError, call, check_params, custom_resource_method,
                           deep_merge, redact, resolve_api, resolve_method)

__all__ = ["KubernetesCall"]


def _target(api, method, params, group, version, plural):
    """(API class, method, params) for a call by class and method, or by group/version/plural
    (a custom resource; the namespace in params picks the namespaced method)."""
    if not (group or version or plural):
        api = resolve_api(api)
        return api, resolve_method(api, method), params
    missing = [name for name, value in (("group", group), ("version", version),
                                        ("plural", plural)) if not value]
    if missing:
        raise KubeInputError("a custom resource needs group, version and plural; %s missing "
                             "(e.g. group dbaas.stackstorm.com, version v1alpha1, plural "
                             "databases)" % ", ".join(missing))
    if api and resolve_api(api) != "CustomObjectsApi":
        raise KubeInputError("api %s cannot be combined with group/version/plural: leave api "
                             "empty (or CustomObjectsApi) for a custom resource" % api)
    for name, value in (("group", group), ("version", version), ("plural", plural)):
        if params.get(name) not in (None, value):
            raise KubeInputError("params.%s (%r) differs from parameter %s (%r): give it once"
                                 % (name, params[name], name, value))
    method = custom_resource_method(method, namespaced=bool(params.get("namespace")))
    return "CustomObjectsApi", method, dict(params, group=group, version=version,
                                            plural=plural)


class KubernetesCall(BaseAction):
    def run(self, api="", method="", params=None, secret_params=None, cluster="", group="",
            version="", plural="", patch_type="", paginate=False, include_secret_data=False,
            request_timeout=60):
        for name, value in (("params", params), ("secret_params", secret_params)):
            if value is not None and not isinstance(value, dict):
                raise KubeInputError("%s must be an object, got %s" % (name, type(value).__name__))
        if isinstance(request_timeout, bool) or not isinstance(request_timeout, int) \
                or request_timeout < 1:
            raise KubeInputError("request_timeout must be an integer >= 1 (seconds), got %r"
                                 % (request_timeout,))
        merged = deep_merge(params or {}, secret_params or {})
        api, method, merged = _target(api, method, merged, group, version, plural)
        merged = check_params(api, method, merged)
        api_client = api_client_from_config(self.config, cluster=cluster)
        where = 'cluster "%s" (%s)' % (cluster or "default", api_client.configuration.host)
        # Parameter names only: values may be secrets (a Secret's body).
        self.logger.debug("kubernetes %s.%s on %s, params %s%s", api, method, where,
                          ", ".join(sorted(merged)) or "none",
                          ", all pages" if paginate else "")
        try:
            result = call(api_client, api, method, merged, patch_type=patch_type,
                          paginate=paginate, timeout=request_timeout, where=where)
        finally:
            api_client.close()
        result, secret_data = redact(result, keep=include_secret_data)
        if include_secret_data:
            result["secret_data"] = secret_data
        return result
