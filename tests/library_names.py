"""Names the installed libraries know, read from their own data when the tests run.

requirements*.txt give ranges (boto3>=1.34,<2, kubernetes>=29,<37), and what lies inside them
changes from release to release: botocore's service models gain operations and waiters, boto3
gains services, the kubernetes client gains API classes, methods and parameters. So a test of a
"did you mean" message builds its expected names here, from the library's own data (never
through lib.name_hints or lib.kube.call, the code under test), and asserts the properties that
hold in every allowed version besides: the right name comes first, each name is one the library
has, at most as many as the pack shows.
"""

import ast
import difflib
import inspect
import textwrap

__all__ = ["aws_operations", "aws_services", "aws_waiters", "closest", "did_you_mean",
           "kube_api_classes", "kube_methods", "kube_params"]


def closest(word, choices, n):
    """The names a "did you mean" is to list: difflib's closest to ``word`` with ratio 0.6 or
    more, best first, at most ``n`` (the pack's rule)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def did_you_mean(names):
    """The pack's hint for ``names``: ``"; did you mean: a, b?"``, or ``""``."""
    return "; did you mean: %s?" % ", ".join(names) if names else ""


# --- botocore ----------------------------------------------------------------------------------

def _botocore_session():
    import botocore.session

    return botocore.session.get_session()


def aws_services():
    """Every service name the installed botocore has data for."""
    return _botocore_session().get_available_services()


def aws_operations(service):
    """The boto3 client method names (snake_case) of ``service``'s operations."""
    from botocore import xform_name

    model = _botocore_session().get_service_model(service)
    # pylint: disable-next=not-an-iterable
    return [xform_name(name) for name in model.operation_names]


def aws_waiters(service):
    """The boto3 waiter names (snake_case) of ``service``."""
    from botocore import xform_name

    model = _botocore_session().get_waiter_model(service)
    return [xform_name(name) for name in model.waiter_names]


# --- the kubernetes client ---------------------------------------------------------------------

_HTTP_INFO = "_with_http_info"


def kube_api_classes():
    """The API classes of kubernetes.client (those its ``api`` package defines)."""
    import kubernetes.client.api

    module = kubernetes.client.api
    return sorted(name for name in dir(module) if inspect.isclass(getattr(module, name)))


def kube_methods(api):
    """The operations of API class ``api``: each has a ``<operation>_with_http_info`` twin."""
    import kubernetes.client

    cls = getattr(kubernetes.client, api)
    return sorted(name[:-len(_HTTP_INFO)] for name in dir(cls)
                  if name.endswith(_HTTP_INFO) and not name.startswith("_"))


def kube_params(api, method):
    """``(required, optional)``: the parameters ``api.method`` accepts, as the generated client
    lists them itself (the ``all_params`` of ``<method>_with_http_info``, in its order; the
    client's own ``async_req``, ``_request_timeout``, ... are added to it separately)."""
    import kubernetes.client

    cls = getattr(kubernetes.client, api)
    source = textwrap.dedent(inspect.getsource(getattr(cls, method + _HTTP_INFO)))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) in ("all_params", "_all_params")
                for target in node.targets):
            accepted = ast.literal_eval(node.value)
            break
    else:
        raise AssertionError("no all_params list in %s.%s%s: the kubernetes client's generated "
                             "code changed; update tests/library_names.py"
                             % (api, method, _HTTP_INFO))
    signature = inspect.signature(getattr(cls, method))
    required = [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]
    return required, [name for name in accepted if name not in required]
