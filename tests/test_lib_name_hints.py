"""lib/name_hints.py: the name matching aws.boto3action and aws.kubernetes_call share."""

from hypothesis import given, strategies as st

from lib.name_hints import snake, squash, suggest


def test_snake_case_from_the_apis_spellings():
    assert snake("listNamespacedSecret") == "list_namespaced_secret"
    assert snake("DescribeDBInstances") == "describe_dbinstances"
    assert snake("list_namespace") == "list_namespace"
    assert snake("continue") == "continue"


def test_squash_ignores_case_underscores_and_dashes():
    assert squash("Core_V1-Api") == squash("corev1api") == "corev1api"


def test_suggest_names_the_closest_choices_or_nothing():
    assert suggest("list_namespaced_secrets", ["list_namespaced_secret", "read_namespace"]) == (
        "; did you mean: list_namespaced_secret?")
    assert suggest("zzz", ["list_namespaced_secret"]) == ""


@given(word=st.text(max_size=12), choices=st.lists(st.text(max_size=12), max_size=8))
def test_suggest_names_only_given_choices(word, choices):
    hint = suggest(word, choices, n=3)
    if hint:
        assert hint.startswith("; did you mean: ") and hint.endswith("?")
        assert all(name in choices for name in hint[16:-1].split(", ")) or any(
            ", " in c for c in choices)


@given(st.from_regex(r"[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*", fullmatch=True))
def test_snake_case_names_stay_as_they_are(name):
    assert snake(name) == name
