"""Real StackStorm in one process, served over HTTP for the `st2` CLI and the web UI.

Run by tests/st2_install/run.sh with StackStorm's own Python ($ST2CHECK/venv, made by
../shared/st2check/install.sh), never by `make test`. Nothing here is StackStorm's code: it
imports StackStorm and wires its parts together the way ../shared/st2check/e2e does, because no
MongoDB or RabbitMQ server exists on the machines the checks run on:

- MongoDB is mongomock (../shared/st2check/mongomock_plugin.py, imported);
- st2auth (flat-file htpasswd backend, as a stock install), st2api and st2stream are StackStorm's
  WSGI apps behind one eventlet WSGI server on 127.0.0.1, routed by path the way the nginx of a
  stock install routes them (/auth, /api, /stream stripped), with st2web's build/ at /;
- RabbitMQ: the liveaction and workflow publishers are st2tests' mocks, which call st2's real
  scheduler, action runner worker and Orquesta workflow engine; a loop does what st2workflowengine
  does on each completed task execution and what st2rulesengine does with each trigger instance
  (st2reactor's TriggerInstanceDispatcher with the real RulesEngine); the other publishers
  (create/update/delete events) are StackStorm's, on kombu's in-memory transport, which
  st2stream's listener consumes: the CLI and the web UI follow executions as they do on a
  stock install;
- python-runner actions run as subprocesses in pack virtualenvs, as in a stock install; they
  reach this process's st2api over HTTP with the token st2 gives them (packs.load registers the
  pack through POST /api/v1/packs/register). One exception: packs.unload opens MongoDB itself,
  so its own class runs in this process (IN_PROCESS_ACTIONS).

A control endpoint /_check/ (the harness's own, not StackStorm's) starts the sensor
aws.CustomResourceSensor under st2's SensorWrapper in this process, as st2sensorcontainer would
after `st2 pack install`, and reports the last errors of the loop.

usage: python st2_server.py --config-file RUN/st2.conf --port PORT --ready RUN/ready.json
       --web ST2WEB_BUILD_DIR
"""

import argparse
import json
import mimetypes
import os
import sys
import threading  # noqa: F401  (patched by monkey_patch below)
import time
import traceback

from st2common.util.monkey_patch import monkey_patch

monkey_patch()

TOOLS = os.environ.get("ST2CHECK_TOOLS", "")
if TOOLS and TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import mongomock_plugin  # noqa: E402,F401  (routes mongoengine to mongomock)
import eventlet  # noqa: E402
import eventlet.wsgi  # noqa: E402
import mock  # noqa: E402

PARSER = argparse.ArgumentParser()
PARSER.add_argument("--config-file", required=True)
PARSER.add_argument("--port", type=int, required=True)
PARSER.add_argument("--ready", required=True)
PARSER.add_argument("--web", default="")
ARGS, _ = PARSER.parse_known_args()
# python-runner subprocesses get st2's config through --parent-args (sys.argv[1:])
sys.argv = [sys.argv[0], "--config-file", ARGS.config_file]

from oslo_config import cfg  # noqa: E402
from st2api import config as st2api_config  # noqa: E402
from st2auth import config as st2auth_config  # noqa: E402
from st2stream import config as st2stream_config  # noqa: E402
from st2actions import config as st2actions_config  # noqa: E402
from st2actions.scheduler import config as scheduler_config  # noqa: E402
from st2actions.workflows import config as workflows_config  # noqa: E402
from st2reactor.rules import config as rules_config  # noqa: E402
from st2reactor.sensor import config as sensor_config  # noqa: E402

# the options of the services this process stands in for, as each registers them at start-up
# (before anything else registers options of the same groups)
for _conf in (st2api_config, st2auth_config, st2stream_config, st2actions_config,
              scheduler_config, workflows_config, rules_config, sensor_config):
    _conf.register_opts(ignore_errors=True)

from st2common.transport import liveaction as lv_ac_xport  # noqa: E402
from st2common.transport import reactor as reactor_xport  # noqa: E402
from st2common.transport import workflow as wf_ex_xport  # noqa: E402
from st2tests.mocks import liveaction as mock_lv_ac_xport  # noqa: E402
from st2tests.mocks import workflow as mock_wf_ex_xport  # noqa: E402

CAPTURED = []  # trigger_instance messages (what st2rulesengine would consume)
ERRORS = []    # exceptions of the driving loop, for /_check/status
STATE = {"sensor": None, "handled": set(), "pumped": 0, "driven": 0}


def _capture_publish_trigger(self, payload=None, routing_key=None):
    CAPTURED.append(payload)


# The create/update/delete publishers (what st2stream forwards to the CLI and the web UI) are
# StackStorm's own, on kombu's in-memory transport ([messaging] url = memory://), which
# st2stream's listener in this process consumes: `st2 pack install` follows its execution there.
MOCKS = [
    mock.patch.object(lv_ac_xport.LiveActionPublisher, "publish_create", mock.MagicMock(
        side_effect=mock_lv_ac_xport.MockLiveActionPublisher.publish_create)),
    mock.patch.object(lv_ac_xport.LiveActionPublisher, "publish_state", mock.MagicMock(
        side_effect=mock_lv_ac_xport.MockLiveActionPublisher.publish_state)),
    mock.patch.object(wf_ex_xport.WorkflowExecutionPublisher, "publish_create", mock.MagicMock(
        side_effect=mock_wf_ex_xport.MockWorkflowExecutionPublisher.publish_create)),
    mock.patch.object(wf_ex_xport.WorkflowExecutionPublisher, "publish_state", mock.MagicMock(
        side_effect=mock_wf_ex_xport.MockWorkflowExecutionPublisher.publish_state)),
    mock.patch.object(reactor_xport.TriggerInstancePublisher, "publish_trigger",
                      _capture_publish_trigger),
]


# Python actions that open MongoDB themselves (not through the st2 API) cannot reach mongomock
# from their own process: StackStorm's packs.unload (the "unregister packs" task of `st2 pack
# remove`). The python runner runs that action's own class in this process instead, with the
# same parameters; every other python action runs as a subprocess, as st2actionrunner runs it.
IN_PROCESS_ACTIONS = ("packs.unload",)


def _patch_python_runner():
    import importlib.util
    from python_runner import python_runner
    from st2common.constants import action as ac_const
    from st2common.runners.base_action import Action as BaseAction
    original = python_runner.PythonRunner.run

    def run(self, action_parameters):
        if getattr(self.action, "ref", None) not in IN_PROCESS_ACTIONS:
            return original(self, action_parameters)
        spec = importlib.util.spec_from_file_location("st2check_inproc", self.entry_point)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cls = [c for c in vars(module).values() if isinstance(c, type)
               and issubclass(c, BaseAction) and c is not BaseAction][0]
        action = cls.__new__(cls)   # its initialize() would connect to MongoDB: this is it
        BaseAction.__init__(action, config={}, action_service=None)
        try:
            result = action.run(**action_parameters)
        except Exception as e:  # noqa
            return (ac_const.LIVEACTION_STATUS_FAILED,
                    {"result": None, "exit_code": 1, "stdout": "", "stderr": str(e),
                     "error": str(e), "traceback": traceback.format_exc()}, None)
        return (ac_const.LIVEACTION_STATUS_SUCCEEDED,
                {"result": result, "exit_code": 0, "stdout": "", "stderr": ""}, None)

    python_runner.PythonRunner.run = run


# The queues above run an execution to its end inside the POST that creates it; st2actionrunner
# runs it later, so a client that follows it on the stream right after the POST (`st2 pack
# remove` and `st2 pack install` wait for its last update there) sees its end. Here that end can
# be over before the client subscribes, and the CLI then waits forever. A subscriber that asks
# to end at an execution already finished is sent that execution's last update once (what it
# would have seen live); every other stream event is StackStorm's own.
def _patch_stream_late_subscriber():
    from st2common.models.api.execution import ActionExecutionAPI
    from st2common.persistence.execution import ActionExecution
    from st2common.stream import listener
    original = listener.BaseListener.generator

    def generator(self, events=None, action_refs=None, execution_ids=None, end_event=None,
                  end_statuses=None, end_execution_id=None):
        stream = original(self, events, action_refs, execution_ids, end_event, end_statuses,
                          end_execution_id)
        first = next(stream)  # the subscriber's queue is registered now
        done = None
        if end_execution_id and end_event == "st2.execution__update":
            try:
                done = ActionExecution.get_by_id(end_execution_id)
            except Exception:  # pylint: disable=broad-except
                done = None
        if done is not None and done.status in (end_statuses or ()):
            self.emit(end_event, ActionExecutionAPI.from_model(done, mask_secrets=True))
        yield first
        yield from stream

    listener.BaseListener.generator = generator


def setup():
    for m in MOCKS:
        m.start()
    _patch_python_runner()
    _patch_stream_late_subscriber()
    from st2common.service_setup import setup as common_setup
    common_setup(service="api", config=st2api_config, setup_db=True,
                 register_mq_exchanges=False, register_signal_handlers=False,
                 register_internal_trigger_types=True, run_migrations=False,
                 register_runners=True, config_args=["--config-file", ARGS.config_file])
    # what `st2ctl reload` registers on a fresh install: the system packs (core, packs, ...)
    from st2common.bootstrap import actionsregistrar
    from st2common.content import utils as content_utils
    system = cfg.CONF.content.system_packs_base_path
    for name in ("core", "packs", "linux", "chatops"):
        path = os.path.join(system, name)
        if os.path.isdir(path):
            actionsregistrar.register_actions(pack_dir=path, fail_on_failure=True)
    from st2common.bootstrap import base as bootstrap_base
    from st2common.bootstrap.base import ResourceRegistrar
    bootstrap_base.REGISTERED_PACKS_CACHE.clear()
    reg = ResourceRegistrar(use_pack_cache=False, fail_on_failure=True)
    for name in ("core", "packs"):
        reg.register_pack(pack_name=name, pack_dir=os.path.join(system, name))
    del content_utils


def apps():
    from st2api import app as st2api_app
    from st2auth import app as st2auth_app
    result = {"api": st2api_app.setup_app(), "auth": st2auth_app.setup_app()}
    try:
        from st2stream import app as st2stream_app
        result["stream"] = st2stream_app.setup_app()
    except Exception as e:  # noqa
        ERRORS.append("st2stream not served: %s" % e)
    return result


def static_app(root):
    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path in ("", "/"):
            path = "/index.html"
        full = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not root or not full.startswith(os.path.realpath(root)) or not os.path.isfile(full):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        with open(full, "rb") as f:
            body = f.read()
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]
    return serve


def control_app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    out = {}
    try:
        if path == "/_check/sensor/start":
            out = start_sensor()
        elif path == "/_check/sensor/stop":
            out = stop_sensor()
        else:
            out = {"errors": ERRORS[-20:], "pumped": STATE["pumped"], "driven": STATE["driven"],
                   "sensor": STATE["sensor"] is not None}
        status = "200 OK"
    except Exception as e:  # noqa
        out, status = {"error": "%s: %s" % (type(e).__name__, e),
                       "traceback": traceback.format_exc()}, "500 Internal Server Error"
    body = json.dumps(out, default=str).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def dispatcher(wsgi_apps, web_root):
    static = static_app(web_root)
    mirror = static_app(os.path.join(os.path.dirname(os.path.abspath(ARGS.config_file)), "mirror"))

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix in ("api", "auth", "stream"):
            if (path == "/" + prefix or path.startswith("/" + prefix + "/")) \
                    and prefix in wsgi_apps:
                environ["SCRIPT_NAME"] = ""
                environ["PATH_INFO"] = path[len(prefix) + 1:] or "/"
                return wsgi_apps[prefix](environ, start_response)
        if path.startswith("/_check/mirror/"):
            # the operator's mirror (git repository and pack index), as its web server serves it
            environ["PATH_INFO"] = path[len("/_check/mirror"):]
            return mirror(environ, start_response)
        if path.startswith("/_check/"):
            return control_app(environ, start_response)
        return static(environ, start_response)
    return app


# ------------------------------------------------------------------ the services' loops
def pump_triggers():
    """What st2rulesengine does with each message of the trigger_instance exchange."""
    from st2reactor.rules import worker as rules_worker
    from st2reactor.rules.engine import RulesEngine
    while CAPTURED:
        msg = CAPTURED.pop(0)
        disp = rules_worker.TriggerInstanceDispatcher.__new__(
            rules_worker.TriggerInstanceDispatcher)
        disp.rules_engine = RulesEngine()
        disp.process(disp.pre_ack_process(msg))
        STATE["pumped"] += 1


def drive_workflows():
    """What st2workflowengine does on each completed task execution."""
    from st2actions.workflows import workflows
    from st2common.constants import action as ac_const
    from st2common.persistence import execution as ex_db_access
    completed = ac_const.LIVEACTION_COMPLETED_STATES
    for ac_ex in ex_db_access.ActionExecution.query(status__in=completed):
        if ac_ex.task_execution and str(ac_ex.id) not in STATE["handled"]:
            STATE["handled"].add(str(ac_ex.id))
            workflows.get_engine().process(ac_ex)
            STATE["driven"] += 1


def loop():
    while True:
        for step in (pump_triggers, drive_workflows):
            try:
                step()
            except Exception:  # noqa
                ERRORS.append(traceback.format_exc()[-2000:])
        eventlet.sleep(0.3)


def start_sensor():
    """aws.CustomResourceSensor under st2's SensorWrapper (its loader, the pack config through
    ContentPackConfigLoader, SensorService on the st2 API), as st2sensorcontainer runs it."""
    from st2common import log as st2_logging
    from st2common.persistence.sensor import SensorType
    from st2reactor.container.sensor_wrapper import SensorWrapper
    if STATE["sensor"] is not None:
        return {"sensor": "already running"}
    st = SensorType.get_by_ref("aws.CustomResourceSensor")
    if st is None or not st.enabled:
        raise RuntimeError("sensor aws.CustomResourceSensor is not registered and enabled")
    # as st2sensorcontainer's process container does: the file from artifact_uri, the class name
    w = SensorWrapper.__new__(SensorWrapper)
    w._pack, w._class_name = "aws", st.entry_point.split(".")[-1]
    w._file_path = st.artifact_uri.replace("file://", "", 1)
    w._trigger_types = [t for t in st.trigger_types]
    w._poll_interval, w._parent_args, w._trigger_names = None, [], {}
    w._logger = st2_logging.getLogger("SensorWrapper.aws.%s" % w._class_name)
    sensor = w._get_sensor_instance()
    sensor.setup()
    STATE["sensor"] = (sensor, eventlet.spawn(sensor.run))
    return {"sensor": "started", "trigger_types": w._trigger_types}


def stop_sensor():
    if STATE["sensor"] is None:
        return {"sensor": "not running"}
    sensor, gt = STATE["sensor"]
    STATE["sensor"] = None
    sensor.cleanup()
    gt.kill()
    return {"sensor": "stopped"}


def main():
    setup()
    wsgi_apps = apps()
    sock = eventlet.listen(("127.0.0.1", ARGS.port))
    eventlet.spawn(loop)
    with open(ARGS.ready + ".tmp", "w") as f:
        json.dump({"port": ARGS.port, "pid": os.getpid(), "started": time.time(),
                   "errors": ERRORS}, f)
    os.rename(ARGS.ready + ".tmp", ARGS.ready)
    eventlet.wsgi.server(sock, dispatcher(wsgi_apps, ARGS.web), log_output=False,
                         max_size=200)


if __name__ == "__main__":
    main()
