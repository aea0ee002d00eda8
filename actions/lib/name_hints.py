"""Names as users write them, matched to the names a library knows, for lookups and for the
"did you mean" of error messages (aws.boto3action's services and operations,
aws.kubernetes_call's API classes, methods and parameters)."""

import difflib
import re

__all__ = ["snake", "squash", "suggest"]

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def suggest(word, choices, n=5):
    """``"; did you mean: a, b?"`` with the ``choices`` closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    return "; did you mean: %s?" % ", ".join(close) if close else ""


def squash(name):
    """``name`` without ``_`` and ``-``, lower-case: ``Core_V1`` and ``corev1`` match."""
    return name.replace("_", "").replace("-", "").lower()


def snake(name):
    """camelCase or PascalCase as snake_case: ``listNamespacedSecret`` ->
    ``list_namespaced_secret``, ``DescribeDBInstances`` -> ``describe_dbinstances``."""
    return _WORD_START.sub("_", name).lower()
