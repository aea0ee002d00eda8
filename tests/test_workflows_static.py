"""Static check of the Orquesta workflows (Orquesta cannot run here).

For every actions/workflows/*.yaml: it loads, ``version: 1.0``; each task's action exists in the
pack (or is an allowed ``core.*`` action) and gets only parameters the action has, including its
required ones; every task named in ``next.do`` exists; every ``ctx()`` variable is defined by
``input``/``vars`` or published on every path before the task that reads it (outputs: by
``input``/``vars``, as output is evaluated whichever path ran); every YAQL ``<% %>`` expression
parses with yaql and every Jinja ``{{ }}`` with jinja2; the workflow's action metadata matches its
``input`` and declares its ``output`` keys. The broken fixture proves the check catches problems.

tests/fixtures/workflows/paths.yaml lists each scenario's task path; here each path is walked
through the YAML graph, and the end-to-end tests assert that lib/chain.py takes the same paths.
"""

import collections.abc  # noqa: F401  yaql 3 uses collections.abc without importing it
import glob
import os
import re

import jinja2
import pytest
import yaql

from lib import chain
from tests.workflow_paths import FIXTURES, PATHS, WORKFLOWS, load_yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTIONS_DIR = os.path.join(PACK_DIR, "actions")
ALLOWED_CORE_ACTIONS = {"core.noop", "core.echo"}  # none is used today
ENGINE_COMMANDS = {"fail", "noop", "continue", "retry"}
YAQL_RE = re.compile(r"<%(.*?)%>", re.S)
JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
CTX_RE = re.compile(r"""ctx\(\s*['"]?(\w*)['"]?\s*\)(?:\.(\w+))?""")
_YAQL = yaql.factory.YaqlFactory().create()


def _names(items):
    """Names of an Orquesta input/vars/publish/output list (strings or one-key dicts)."""
    names = []
    for item in items or []:
        names.extend([item] if isinstance(item, str) else list(item))
    return names


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def ctx_vars(node):
    """Variables read with ctx(x) or ctx().x anywhere in ``node``."""
    found = set()
    for text in _strings(node):
        for expr in YAQL_RE.findall(text) + JINJA_RE.findall(text):
            for name, attr in CTX_RE.findall(expr):
                found.add(name or attr)
    found.discard("")
    return found


def expression_errors(node, where):
    errors = []
    for text in _strings(node):
        for expr in YAQL_RE.findall(text):
            try:
                _YAQL(expr.strip())
            except Exception as exc:  # pylint: disable=broad-except
                errors.append("%s: YAQL <%%%s%%> does not parse: %s" % (where, expr, exc))
        for expr in JINJA_RE.findall(text):
            try:
                jinja2.Environment().parse(expr)
            except jinja2.TemplateSyntaxError as exc:
                errors.append("%s: Jinja %s does not parse: %s" % (where, expr, exc))
    return errors


def transitions(task):
    """(transition, [task names or engine commands]) for each entry of the task's next."""
    for transition in task.get("next") or []:
        todo = transition.get("do") or []
        if isinstance(todo, str):
            todo = [part.strip() for part in todo.split(",") if part.strip()]
        yield transition, todo


def edges(workflow):
    tasks = workflow.get("tasks") or {}
    return {name: {t for _, todo in transitions(task) for t in todo if t in tasks}
            for name, task in tasks.items()}


def start_tasks(workflow):
    targets = set().union(*edges(workflow).values()) if workflow.get("tasks") else set()
    return [name for name in workflow.get("tasks") or {} if name not in targets]


def action_parameters(ref):
    """The parameters of a pack action, or None when it does not exist."""
    pack, _, name = ref.partition(".")
    path = os.path.join(ACTIONS_DIR, name + ".yaml")
    if pack != "aws" or not os.path.exists(path):
        return None
    return load_yaml(path).get("parameters") or {}


def check_workflow(workflow, where="workflow"):
    """All problems found in a parsed workflow, as readable strings (empty: fine)."""
    problems = []
    if not isinstance(workflow, dict):
        return ["%s: not a mapping" % where]
    if str(workflow.get("version")) != "1.0":
        problems.append("%s: version must be 1.0, got %r" % (where, workflow.get("version")))
    tasks = workflow.get("tasks") or {}
    if not tasks:
        problems.append("%s: no tasks" % where)
    declared = set(_names(workflow.get("input"))) | set(_names(workflow.get("vars")))
    problems += expression_errors(workflow, where)

    for name, task in tasks.items():
        here = "%s: task %s" % (where, name)
        if name in ENGINE_COMMANDS:
            problems.append("%s: the name is an engine command" % here)
        ref = (task or {}).get("action")
        if ref:
            if " " in ref:
                problems.append("%s: use input:, not the action's inline parameters" % here)
            elif ref.startswith("core."):
                if ref not in ALLOWED_CORE_ACTIONS:
                    problems.append("%s: action %s is not an allowed core action" % (here, ref))
            else:
                params = action_parameters(ref)
                if params is None:
                    problems.append("%s: action %s does not exist in the pack" % (here, ref))
                else:
                    given = set((task.get("input") or {}))
                    for unknown in sorted(given - set(params)):
                        problems.append("%s: %s has no parameter %s" % (here, ref, unknown))
                    for key, spec in sorted(params.items()):
                        if (spec or {}).get("required") and key not in given:
                            problems.append("%s: required parameter %s of %s not given"
                                            % (here, key, ref))
        retry = (task or {}).get("retry")
        if retry is not None and not isinstance(retry.get("count"), int):
            problems.append("%s: retry needs an integer count" % here)
        for _, todo in transitions(task or {}):
            for target in todo:
                if target not in tasks and target not in ENGINE_COMMANDS:
                    problems.append("%s: next.do names undefined task %s" % (here, target))

    problems += _check_variables(workflow, declared, where)
    for var in sorted(ctx_vars(workflow.get("output")) - declared):
        problems.append("%s: output reads ctx(%s), which is not in input or vars" % (where, var))
    return problems


def _check_variables(workflow, declared, where):
    """Data flow: a variable a task reads must be available on every path into that task."""
    tasks = workflow.get("tasks") or {}
    universe = set(declared)
    for task in tasks.values():
        for transition, _ in transitions(task or {}):
            universe |= set(_names(transition.get("publish")))
    available = {name: set(universe) for name in tasks}
    for name in start_tasks(workflow):
        available[name] = set(declared)
    changed = True
    while changed:
        changed = False
        incoming = {name: [] for name in tasks}
        for name, task in tasks.items():
            for transition, todo in transitions(task or {}):
                out = available[name] | set(_names(transition.get("publish")))
                for target in todo:
                    if target in incoming:
                        incoming[target].append(out)
        for name in tasks:
            if incoming[name]:
                new = set.intersection(*incoming[name])
                if name in start_tasks(workflow):
                    new = set(declared)
                if new != available[name]:
                    available[name] = new
                    changed = True
    problems = []
    for name, task in tasks.items():
        task = task or {}
        reads = ctx_vars({k: v for k, v in task.items() if k != "next"})
        for var in sorted(reads - available[name]):
            problems.append("%s: task %s reads ctx(%s) before it is defined" % (where, name, var))
        for transition, _ in transitions(task):
            defined = set(available[name])
            reads = ctx_vars(transition.get("when"))
            for item in transition.get("publish") or []:
                item = {item: None} if isinstance(item, str) else item
                reads |= ctx_vars(list(item.values())) - defined
                defined |= set(item)
            for var in sorted(reads - available[name] - defined):
                problems.append("%s: a transition of task %s reads ctx(%s) before it is "
                                "defined" % (where, name, var))
    return problems


def walk_problems(workflow, path):
    """Why ``path`` (task names) is not a run of the workflow's graph; [] when it is."""
    tasks = workflow["tasks"]
    graph = edges(workflow)
    problems = []
    if not path or path[0] not in start_tasks(workflow):
        problems.append("path must begin at a start task %s" % start_tasks(workflow))
    for here, there in zip(path, path[1:]):
        if here not in tasks or there not in graph.get(here, set()):
            problems.append("no transition %s -> %s" % (here, there))
    last = tasks.get(path[-1]) if path else None
    if last is not None and not any(not [t for t in todo if t in tasks]
                                    for _, todo in transitions(last)):
        problems.append("path ends at %s, which always goes on to another task" % path[-1])
    return problems


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_passes_the_check(name):
    assert check_workflow(WORKFLOWS[name], name) == []


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_action_metadata_matches(name):
    meta = load_yaml(os.path.join(ACTIONS_DIR, name + ".yaml"))
    assert meta["runner_type"] == "orquesta"
    assert meta["entry_point"] == "workflows/%s.yaml" % name
    assert sorted(meta["parameters"]) == sorted(_names(WORKFLOWS[name].get("input")))
    declared = set((meta.get("output_schema") or {}).get("properties") or {})
    assert set(_names(WORKFLOWS[name]["output"])) <= declared
    assert name in chain.WORKFLOWS


# Workflows an operator starts (st2 run): each needs an example in the README.
RUN_BY_HAND = {"cluster_migrate"}
# Workflows that call AWS: through one aws.assume_role and aws.boto3action.
AWS_WORKFLOWS = sorted(name for name, wf in WORKFLOWS.items()
                       if any(t.get("action") in ("aws.assume_role", "aws.boto3action")
                              for t in wf["tasks"].values()))


def test_every_workflow_has_a_rule_or_is_called_or_is_run_by_hand():
    rules = [load_yaml(p) for p in glob.glob(os.path.join(PACK_DIR, "rules", "*.yaml"))]
    refs = {rule["action"]["ref"] for rule in rules}
    called = {task.get("action") for wf in WORKFLOWS.values() for task in wf["tasks"].values()}
    by_hand = {"aws." + name for name in RUN_BY_HAND}
    assert not by_hand & (refs | called)
    assert {"aws." + name for name in WORKFLOWS} <= refs | called | by_hand
    with open(os.path.join(PACK_DIR, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for name in RUN_BY_HAND:
        assert "st2 run aws.%s " % name in readme, name


def test_the_aws_workflows_are_the_provisioning_ones():
    assert AWS_WORKFLOWS == ["database_create", "database_delete", "database_resync",
                             "database_update", "reconcile_databases"]


@pytest.mark.parametrize("name", AWS_WORKFLOWS)
def test_assume_role_once_and_every_aws_call_through_boto3action(name):
    tasks = WORKFLOWS[name]["tasks"]
    actions = [task["action"] for task in tasks.values()]
    assert actions.count("aws.assume_role") == 1
    for task_name, task in tasks.items():
        if task["action"] == "aws.boto3action":
            assert task["input"]["credentials"] == "<% ctx(credentials) %>", task_name
        if task["action"] in ("aws.database_store_credentials", "aws.database_resync_plan",
                              "aws.database_parameter_group"):
            assert task["input"]["credentials"] == "<% ctx(credentials) %>", task_name


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_polls_are_bounded_and_match_the_driver(name):
    for task_name, task in WORKFLOWS[name]["tasks"].items():
        retry = task.get("retry")
        if retry is None:
            continue
        if task["action"] == "aws.database_store_credentials":
            assert retry == {"when": '<% failed() and "check-and-set" in '
                                     'result().get("stderr", "") %>',
                             "count": chain.CAS_RETRY_COUNT, "delay": chain.CAS_RETRY_DELAY}
            continue
        assert task["action"] == "aws.boto3action" and not task["input"].get("waiter"), task_name
        assert retry["count"] == chain.POLL_COUNT, task_name
        assert retry["delay"] == chain.POLL_DELAY, task_name
        assert retry["when"].startswith("<% succeeded() and "), task_name


def test_every_path_is_a_run_of_its_workflow_graph():
    assert sorted(PATHS) == sorted(WORKFLOWS)
    for name, scenarios in PATHS.items():
        for scenario, path in scenarios.items():
            assert walk_problems(WORKFLOWS[name], path) == [], (name, scenario)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_paths_cover_every_task(name):
    covered = {task for path in PATHS[name].values() for task in path}
    assert covered == set(WORKFLOWS[name]["tasks"])


def test_failure_after_the_finalizer_always_reports_then_fails():
    """Every failed() transition goes to report_failure (or fails at once before the finalizer
    / when setting the final status), and report_failure always fails. The exception: a failed
    create looks for the instance again (find_instance_again), which reports if it is absent."""
    create = WORKFLOWS["database_create"]["tasks"]
    assert [todo for _, todo in transitions(create["create_instance"])] == [
        ["wait_available"], ["find_instance_again"]]
    for name in ("database_create", "database_update", "database_delete"):
        tasks = WORKFLOWS[name]["tasks"]
        for task_name, task in tasks.items():
            for transition, todo in transitions(task):
                when = transition.get("when") or ""
                if when == "<% failed() %>" and task_name != "create_instance":
                    assert todo in (["report_failure"], ["fail"]), (name, task_name, todo)
                    if todo == ["fail"]:  # the status is final already, or cannot be written
                        assert task_name in ("set_ready", "provision", "report_invalid",
                                             "report_failure", "report_terminal"), (name, task_name)
        for reporter in ("report_failure", "report_invalid", "report_terminal"):
            if reporter in tasks:
                # succeeded() and failed() both end the run; a failed status write says so
                outcomes = [(t.get("when"), todo) for t, todo in transitions(tasks[reporter])]
                assert outcomes == [("<% succeeded() %>", ["fail"]), ("<% failed() %>", ["fail"])]


def test_walk_problems_notices_a_wrong_path():
    workflow = WORKFLOWS["database_create"]
    assert walk_problems(workflow, ["plan", "assume_role", "find_instance", "create_instance",
                                    "wait_available", "store_credentials", "report_failure"]
                         ) == ["no transition plan -> assume_role"]
    assert walk_problems(workflow, ["add_finalizer"]) != []
    assert walk_problems(workflow, ["plan", "check_locations", "add_finalizer"]) == [
        "path ends at add_finalizer, which always goes on to another task"]


def test_the_check_catches_a_broken_workflow():
    problems = check_workflow(load_yaml(os.path.join(FIXTURES, "broken_workflow.yaml")),
                              "broken")
    text = "\n".join(problems)
    expected = [
        "broken: version must be 1.0, got 2",
        "broken: task plan: next.do names undefined task no_such_task",
        "broken: task plan: aws.database_plan has no parameter resources",
        "broken: task plan: required parameter resource of aws.database_plan not given",
        "broken: task report: action aws.no_such_action does not exist in the pack",
        "broken: task echo: action core.local is not an allowed core action",
        "broken: task report reads ctx(never_defined) before it is defined",
        "broken: task late reads ctx(only_on_one_path) before it is defined",
        "broken: output reads ctx(published_later), which is not in input or vars",
    ]
    for item in expected:
        assert item in problems, "%s\nnot in:\n%s" % (item, text)
    assert any(p.startswith("broken: YAQL <% ctx(resource).name + %> does not parse")
               for p in problems), text
    assert any(p.startswith("broken: Jinja {{ ctx('resource') | }} does not parse")
               for p in problems), text
    assert len(problems) == len(expected) + 2, text
