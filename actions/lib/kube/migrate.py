"""Copy one namespace's infrastructure objects from one Kubernetes cluster to another (A/B).

``NamespaceMigration(source, target, namespace, ...).run()`` reads the namespace and its
objects from the source API server as JSON and makes the target's equal to them, kind by kind
(``KINDS``: the Namespace, ServiceAccounts, Secrets, ConfigMaps, Roles, RoleBindings,
ResourceQuotas, LimitRanges, NetworkPolicies; optionally Services, Deployments, StatefulSets,
DaemonSets, CronJobs, Ingresses, HorizontalPodAutoscalers, PodDisruptionBudgets). It returns a
report: counts per outcome (create, update, unchanged, conflict, delete, skipped,
only_in_target, failed) and, per kind, the objects of each outcome that had any.

What the source cluster generated is not copied: ``strip`` drops uid, resourceVersion,
creationTimestamp, generation, managedFields, selfLink, status, finalizers, ownerReferences to
objects not copied (the others get the target's uid), clusterIP(s), the ServiceAccounts' token
references and the Deployments' revision annotation; ``skip_reason`` leaves out
service-account token Secrets, the ``kube-root-ca.crt`` ConfigMap and a ``default``
ServiceAccount without content of its own.

How the target is compared and written (every write is checked by the target first):

- absent in the target: a server-side dry-run create shows what the target will store; the
  object is created with the fingerprint of that (``FINGERPRINT`` annotation, a sha256 of the
  stripped object without the annotation);
- present: equal after stripping -> unchanged; else a dry-run replace shows what the target
  would store; equal -> unchanged (the clusters only default differently); else it differs.
  If the target's object still has the fingerprint the migration wrote, it is replaced (with its
  resourceVersion: a concurrent writer makes it a 409, read again). If its fingerprint is gone
  or does not match (changed by hand since, or never written by the migration) it is a
  conflict: reported with the differing fields (names only), not written unless
  ``overwrite_conflicts``;
- only in the target: reported (``only_in_target``), kept. With ``prune`` an object the
  migration wrote is deleted if nobody changed it since (fingerprint, uid and resourceVersion
  preconditions); changed since, it is a conflict, kept unless ``overwrite_conflicts``. An
  object without the fingerprint (not written by the migration) is never deleted.

The report's ``status`` is ``failed`` when the run stopped or an object failed,
``conflict`` when conflicts were kept (the target still differs from the source) unless
``dry_run`` or ``accept_conflicts``, else ``succeeded``; ``summary`` says it in one line.

With ``dry_run`` nothing is written: the report is the plan. A run is idempotent: a second run
changes nothing, and a run stopped midway (the target unreachable) is completed by the next.
Values never appear in reports or logs: names and field paths only.
"""

import hashlib
import json
import logging
import threading

__all__ = ["FINGERPRINT", "INFRA_KINDS", "KINDS", "MigrationError", "NamespaceMigration",
           "Rest", "SYSTEM_NAMESPACES", "WORKLOAD_KINDS", "diff_paths", "fingerprint",
           "kinds_for", "normalize", "skip_reason", "strip", "summary_line"]

from lib.kube.call import api_answer

LOG = logging.getLogger(__name__)
FINGERPRINT = "migration.stackstorm.com/fingerprint"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
ACTIONS = ("create", "update", "unchanged", "conflict", "delete", "skipped", "only_in_target",
           "failed")
_METADATA_DROPPED = ("uid", "resourceVersion", "creationTimestamp", "generation",
                     "managedFields", "selfLink", "deletionTimestamp",
                     "deletionGracePeriodSeconds", "finalizers", "generateName")
_ANNOTATIONS_DROPPED = ("deployment.kubernetes.io/revision", FINGERPRINT)
_LABELS_DROPPED = ("kubernetes.io/metadata.name",)
_PAGE = 500
WORKERS = 4  # objects of one kind written at the same time


class Kind:
    """A kind the migration copies: its name, plural, and the group/versions it may be served
    at (the first one a cluster serves is used there)."""

    def __init__(self, name, plural, versions, namespaced=True, workload=False):
        self.name = name
        self.plural = plural
        self.versions = versions
        self.namespaced = namespaced
        self.workload = workload

    def __repr__(self):
        return "Kind(%s)" % self.name


NAMESPACE = Kind("Namespace", "namespaces", ("v1",), namespaced=False)
KINDS = [
    NAMESPACE,
    Kind("ServiceAccount", "serviceaccounts", ("v1",)),
    Kind("Secret", "secrets", ("v1",)),
    Kind("ConfigMap", "configmaps", ("v1",)),
    Kind("Role", "roles", ("rbac.authorization.k8s.io/v1",)),
    Kind("RoleBinding", "rolebindings", ("rbac.authorization.k8s.io/v1",)),
    Kind("ResourceQuota", "resourcequotas", ("v1",)),
    Kind("LimitRange", "limitranges", ("v1",)),
    Kind("NetworkPolicy", "networkpolicies", ("networking.k8s.io/v1",)),
    Kind("Service", "services", ("v1",), workload=True),
    Kind("Deployment", "deployments", ("apps/v1",), workload=True),
    Kind("StatefulSet", "statefulsets", ("apps/v1",), workload=True),
    Kind("DaemonSet", "daemonsets", ("apps/v1",), workload=True),
    Kind("CronJob", "cronjobs", ("batch/v1", "batch/v1beta1"), workload=True),
    Kind("Ingress", "ingresses", ("networking.k8s.io/v1",), workload=True),
    Kind("HorizontalPodAutoscaler", "horizontalpodautoscalers",
         ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1"), workload=True),
    Kind("PodDisruptionBudget", "poddisruptionbudgets", ("policy/v1", "policy/v1beta1"),
         workload=True),
]
_BY_NAME = {kind.name: kind for kind in KINDS}
INFRA_KINDS = [k.name for k in KINDS[1:] if not k.workload]
WORKLOAD_KINDS = [k.name for k in KINDS if k.workload]


class MigrationError(RuntimeError):
    """The namespace cannot be migrated now (a cluster unreachable, the namespace missing)."""


class ApiError(RuntimeError):
    """One request refused by an API server (status and reason from its answer)."""

    def __init__(self, message, status, reason):
        super().__init__(message)
        self.status = status
        self.reason = reason


def kinds_for(names=None, include_workloads=False):
    """The ``Kind`` objects to copy, in creation order: ``names`` (kind names) or the
    infrastructure kinds, plus the workload kinds when ``include_workloads``."""
    if names:
        unknown = [n for n in names if n not in _BY_NAME or n == "Namespace"]
        if unknown:
            raise ValueError("kinds: unknown kind(s) %s; the migration copies %s"
                             % (", ".join(map(str, unknown)), ", ".join(INFRA_KINDS +
                                                                        WORKLOAD_KINDS)))
        wanted = set(names)
    else:
        wanted = set(INFRA_KINDS) | (set(WORKLOAD_KINDS) if include_workloads else set())
    return [k for k in KINDS[1:] if k.name in wanted]


# --- REST on one cluster ----------------------------------------------------------------------

class Rest:
    """JSON requests to one API server through a ``kubernetes.client.ApiClient`` (its
    credentials and TLS settings), without the client's model classes."""

    def __init__(self, api_client, label, timeout=30):
        self.api_client = api_client
        self.label = label  # 'cluster "b" (https://...)', for messages
        self.timeout = timeout
        # kind name -> the group/version served (None: none of them); namespaces: always v1
        self._versions = {NAMESPACE.name: "v1"}
        self._resources = {}  # group/version -> the plurals its discovery document lists
        self._lock = threading.Lock()

    def request(self, method, path, query=None, body=None):
        from kubernetes.client.exceptions import \
            ApiException  # pylint: disable=import-outside-toplevel
        from urllib3.exceptions import HTTPError  # pylint: disable=import-outside-toplevel

        try:
            response = self.api_client.call_api(
                path, method, query_params=list((query or {}).items()),
                header_params={"Accept": "application/json",
                               "Content-Type": "application/json"},
                body=body, auth_settings=["BearerToken"], _preload_content=False,
                _request_timeout=self.timeout)
        except ApiException as exc:
            if not exc.status:
                raise MigrationError("cannot reach %s: %s" % (
                    self.label, str(exc.reason).split("\n")[-1][:200])) from None
            reason, message = api_answer(exc)
            text = "%s %s on %s: %s %s: %s" % (
                method, path, self.label, exc.status, reason, message[:300])
            raise ApiError(text, exc.status, reason) from None
        except HTTPError as exc:
            raise MigrationError("cannot reach %s: %s" % (
                self.label, str(getattr(exc, "reason", None) or exc)[:200])) from None
        data = response.data
        return json.loads(data) if data else {}

    def version_of(self, kind):
        """The group/version this cluster serves ``kind`` at, or None. Known from an earlier
        ``list`` of the kind, else from the discovery documents (each group/version's read
        once)."""
        if kind.name not in self._versions:
            found = None
            for group_version in kind.versions:
                if kind.plural in self._discover(group_version):
                    found = group_version
                    break
            with self._lock:
                self._versions.setdefault(kind.name, found)
        return self._versions[kind.name]

    def _discover(self, group_version):
        if group_version not in self._resources:
            path = "/api/v1" if group_version == "v1" else "/apis/" + group_version
            try:
                resources = self.request("GET", path).get("resources") or []
            except ApiError as exc:
                if exc.status != 404:
                    raise
                resources = []
            with self._lock:
                self._resources[group_version] = {r.get("name") for r in resources}
        return self._resources[group_version]

    def path(self, kind, namespace=None, name=None, version=None):
        version = version or self.version_of(kind)
        if version is None:
            raise MigrationError("%s does not serve %s (tried %s)"
                                 % (self.label, kind.name, ", ".join(kind.versions)))
        base = "/api/v1" if version == "v1" else "/apis/" + version
        if kind.namespaced:
            base += "/namespaces/%s" % namespace
        base += "/" + kind.plural
        return base + ("/" + name if name else "")

    def list(self, kind, namespace):
        """Every object of ``kind`` in ``namespace`` (all pages), each with its apiVersion and
        kind (a list's items lack them); None when the cluster serves ``kind`` at none of its
        versions. The list is the discovery: it is tried at each version in turn until one is
        not a 404 (a namespace that does not exist lists empty), which ``version_of`` then
        answers without asking the discovery documents."""
        if kind.name in self._versions:
            versions = [self._versions[kind.name]]
        else:
            versions = list(kind.versions)
        for version in versions:
            if version is None:
                return None
            try:
                items = self._list_at(kind, namespace, version)
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            with self._lock:
                self._versions.setdefault(kind.name, version)
            return items
        with self._lock:
            self._versions.setdefault(kind.name, None)
        return None

    def _list_at(self, kind, namespace, version):
        items, query = [], {"limit": _PAGE}
        while True:
            page = self.request("GET", self.path(kind, namespace, version=version),
                                query=query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", page.get("apiVersion"))
                item.setdefault("kind", kind.name)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query = {"limit": _PAGE, "continue": token}

    def get(self, kind, namespace, name):
        try:
            return self.request("GET", self.path(kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, kind, namespace, body, dry_run=False):
        return self.request("POST", self.path(kind, namespace),
                            query={"dryRun": "All"} if dry_run else None, body=body)

    def replace(self, kind, namespace, name, body, dry_run=False):
        return self.request("PUT", self.path(kind, namespace, name),
                            query={"dryRun": "All"} if dry_run else None, body=body)

    def delete(self, kind, namespace, name, uid, resource_version, dry_run=False):
        # The API server takes the options from the body when there is one, query included:
        # dryRun goes in the body.
        body = {"kind": "DeleteOptions", "apiVersion": "v1",
                "preconditions": {"uid": uid, "resourceVersion": resource_version}}
        if dry_run:
            body["dryRun"] = ["All"]
        return self.request("DELETE", self.path(kind, namespace, name), body=body)


# --- what is copied ---------------------------------------------------------------------------

def skip_reason(kind, obj):
    """Why ``obj`` is not copied (the cluster makes it itself), or None."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if kind.name == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
        return "service-account token (made by the cluster for its ServiceAccount)"
    if kind.name == "ConfigMap" and name == "kube-root-ca.crt":
        return "root CA bundle (published by the cluster in every namespace)"
    if kind.name == "ServiceAccount" and name == "default":
        own = (obj.get("imagePullSecrets") or "automountServiceAccountToken" in obj
               or metadata.get("labels") or _annotations(obj))
        if not own:
            return "default ServiceAccount (made by the cluster in every namespace)"
    if metadata.get("deletionTimestamp"):
        return "being deleted in the source cluster"
    return None


def _annotations(obj):
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    for key in _ANNOTATIONS_DROPPED:
        annotations.pop(key, None)
    return annotations


def strip(kind, obj, api_version=None, owner_uids=None):
    """The object as the target should get it: what the source cluster generated removed.
    ``owner_uids`` maps (kind, name) of objects already copied to their uid in the target;
    owner references to anything else are dropped. ``obj`` is not changed; the result is new
    down to what strip changes (metadata, a Service's spec) and shares the rest with ``obj``:
    copy it before changing anything deeper."""
    metadata = obj.get("metadata") or {}
    result = {"apiVersion": api_version or obj.get("apiVersion"), "kind": kind.name}
    meta = {"name": metadata.get("name")}
    if kind.namespaced:
        meta["namespace"] = metadata.get("namespace")
    labels = {k: v for k, v in (metadata.get("labels") or {}).items()
              if k not in _LABELS_DROPPED}
    if labels:
        meta["labels"] = labels
    annotations = _annotations(obj)
    if annotations:
        meta["annotations"] = annotations
    owners = []
    for ref in metadata.get("ownerReferences") or []:
        uid = (owner_uids or {}).get((ref.get("kind"), ref.get("name")))
        if uid:
            owners.append(dict(ref, uid=uid))
    if owners:
        meta["ownerReferences"] = owners
    result["metadata"] = meta
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        result[key] = value
    if kind.name == "Namespace":
        result.pop("spec", None)  # spec.finalizers: the cluster's own
    elif kind.name == "ServiceAccount":
        result.pop("secrets", None)  # token Secrets the cluster made
    elif kind.name == "Service" and isinstance(result.get("spec"), dict):
        result["spec"] = {key: value for key, value in result["spec"].items()
                          if key not in ("clusterIP", "clusterIPs", "ipFamilies",
                                         "ipFamilyPolicy")}
    return result


def normalize(obj, kind=None):
    """``obj`` stripped (its own kind and apiVersion kept), without the fingerprint: what two
    clusters' copies are compared by."""
    kind = kind or _BY_NAME.get(obj.get("kind")) or Kind(obj.get("kind"), "", ())
    return strip(kind, obj, obj.get("apiVersion"),
                 owner_uids={(r.get("kind"), r.get("name")): r.get("uid")
                             for r in (obj.get("metadata") or {}).get("ownerReferences") or []})


def fingerprint(obj, kind=None):
    text = json.dumps(normalize(obj, kind), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def diff_paths(old, new, prefix=""):
    """Dotted paths where ``old`` and ``new`` differ (values never shown)."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths = []
        for key in sorted(set(old) | set(new), key=str):
            here = "%s.%s" % (prefix, key) if prefix else str(key)
            if key not in old or key not in new:
                paths.append(here)
            else:
                paths += diff_paths(old[key], new[key], here)
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        paths = []
        for index, (a, b) in enumerate(zip(old, new)):
            paths += diff_paths(a, b, "%s[%d]" % (prefix, index))
        return paths
    return [] if old == new else [prefix or "."]


# --- one namespace ----------------------------------------------------------------------------

def _empty_kind_report():
    return {action: [] for action in ACTIONS}


_WORDS = {"create": "created", "update": "updated", "delete": "deleted"}
_PLANNED = {"create": "to create", "update": "to update", "delete": "to delete"}
_NAMED = 5  # objects named in a summary per outcome
CONFLICT_ADVICE = ("failed on conflicts: the target keeps objects that differ from the source "
                   "(overwrite_conflicts=true takes the source's version, accept_conflicts=true "
                   "leaves them)")


def _named(kinds, action):
    """``Kind name, ...`` of the report's ``action`` entries, kinds in creation order."""
    order = [k.name for k in KINDS]
    names = ["%s %s" % (kind, _entry_name(entry))
             for kind in sorted(kinds, key=lambda k: order.index(k) if k in order else 99)
             for entry in kinds[kind].get(action, ())]
    more = len(names) - _NAMED
    return ", ".join(names[:_NAMED]) + (" and %d more" % more if more > 0 else "")


def summary_line(report, accept_conflicts=False):
    """One line saying what the report says: ``team-a: 12 created, 3 unchanged, 1 conflict
    (not overwritten: ConfigMap x)``, why it stopped, and what to do about conflicts that
    fail the execution."""
    counts, kinds = report["counts"], report["kinds"]
    dry_run = report["dry_run"]
    parts = []
    for action in ACTIONS:
        count = counts.get(action, 0)
        if not count:
            continue
        if action == "conflict":
            how = ("would not be overwritten" if dry_run else
                   "accepted, not overwritten" if accept_conflicts else "not overwritten")
            parts.append("%d conflict%s (%s: %s)" % (count, "" if count == 1 else "s", how,
                                                     _named(kinds, action)))
        elif action == "failed":
            parts.append("%d failed (%s)" % (count, _named(kinds, action)))
        elif action == "only_in_target":
            parts.append("%d only in target (kept)" % count)
        else:
            word = (_PLANNED if dry_run else _WORDS).get(action, action)
            parts.append("%d %s" % (count, word))
    line = "%s%s: " % (report["namespace"], " (dry run)" if dry_run else "")
    if report["error"]:
        return line + ("%s; stopped: %s" % (", ".join(parts), report["error"]) if parts
                       else "not migrated: %s" % report["error"])
    line += ", ".join(parts) or "nothing to copy"
    if report["status"] == "conflict":
        line += "; " + CONFLICT_ADVICE
    return line


class _Pool:
    """``workers`` threads for one run (none with ``workers`` <= 1: calls run in the caller's
    thread). ``submit`` returns a future; ``run_all`` runs jobs and waits for all of them, the
    first exception (a cluster unreachable) cancelling those not started and raised."""

    def __init__(self, workers):
        self.workers = workers
        self.executor = None
        self.futures = []

    def __enter__(self):
        if self.workers > 1:
            from concurrent.futures import \
                ThreadPoolExecutor  # pylint: disable=import-outside-toplevel

            self.executor = ThreadPoolExecutor(max_workers=self.workers)
        return self

    def __exit__(self, *exc_info):
        if self.executor is not None:
            for future in self.futures:  # left after an error: not started, not wanted
                future.cancel()
            self.executor.shutdown(wait=True)

    def submit(self, function, *args):
        if self.executor is None:
            return _Done(function, *args)
        future = self.executor.submit(function, *args)
        self.futures.append(future)
        return future

    def stream(self, function, items, *args):
        """``function(item, *args)`` for each item in turn, in one thread: a future per item,
        in order (after an exception, the later ones raise it too)."""
        if self.executor is None:
            return [_Done(function, item, *args) for item in items]
        from concurrent.futures import Future  # pylint: disable=import-outside-toplevel

        futures = [Future() for _ in items]

        def run():
            error = None
            for item, future in zip(items, futures):
                if not future.set_running_or_notify_cancel():
                    continue
                if error is None:
                    try:
                        future.set_result(function(item, *args))
                        continue
                    except BaseException as exc:  # pylint: disable=broad-except
                        error = exc
                future.set_exception(error)

        self.futures.extend(futures)
        self.futures.append(self.executor.submit(run))
        return futures

    def run_all(self, jobs):
        if self.executor is None or len(jobs) <= 1:
            for function, args in jobs:
                function(*args)
            return
        futures = [self.executor.submit(function, *args) for function, args in jobs]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class _Done:
    """A call made at once, with a future's ``result``."""

    def __init__(self, function, *args):
        self.value, self.error = None, None
        try:
            self.value = function(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self.error = exc

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class NamespaceMigration:
    """Make the target's copy of ``namespace`` equal to the source's (see the module doc)."""

    def __init__(self, source, target, namespace, kinds, dry_run=False, prune=False,
                 overwrite_conflicts=False, accept_conflicts=False, logger=None,
                 workers=WORKERS):
        self.source = source
        self.target = target
        self.namespace = namespace
        self.kinds = kinds
        self.dry_run = dry_run
        self.prune = prune
        self.overwrite = overwrite_conflicts
        self.accept_conflicts = accept_conflicts
        self.log = logger or LOG
        self.workers = workers
        self._lock = threading.Lock()
        self.kind_reports = {}
        self.owner_uids = {}
        self.target_namespace_exists = True

    # -- report
    def _record(self, kind, action, entry):
        with self._lock:
            report = self.kind_reports.setdefault(kind.name, _empty_kind_report())
            report[action].append(entry)
        name = entry["name"] if isinstance(entry, dict) else entry
        self.log.debug("%s %s %s/%s: %s", "plan" if self.dry_run else "migrate", kind.name,
                       self.namespace, name, action)

    def report(self, error=None):
        counts = {action: sum(len(r[action]) for r in self.kind_reports.values())
                  for action in ACTIONS}
        if error or counts["failed"]:
            status = "failed"
        elif counts["conflict"] and not (self.dry_run or self.accept_conflicts):
            status = "conflict"  # done, but the target still differs from the source
        else:
            status = "succeeded"
        kinds = {kind: {action: sorted(entries, key=_entry_name)
                        for action, entries in report.items() if entries}
                 for kind, report in self.kind_reports.items()}
        report = {"namespace": self.namespace, "dry_run": self.dry_run, "status": status,
                  "error": error, "counts": counts, "kinds": kinds}
        report["summary"] = summary_line(report, self.accept_conflicts)
        return report

    # -- run
    def run(self):
        """The report; ``status`` failed when an object could not be written or the run
        stopped (``error`` says why: the rest is done by the next run), conflict when
        conflicts were kept and neither ``dry_run`` nor ``accept_conflicts`` was given."""
        if self.namespace in SYSTEM_NAMESPACES:
            return self.report("%s belongs to the cluster itself and is not migrated"
                               % self.namespace)
        try:
            source_ns = self.source.get(NAMESPACE, None, self.namespace)
            if source_ns is None:
                return self.report("namespace %s does not exist in the source %s"
                                   % (self.namespace, self.source.label))
            if source_ns["metadata"].get("deletionTimestamp"):
                return self.report("namespace %s is being deleted in the source %s"
                                   % (self.namespace, self.source.label))
            target_ns = self.target.get(NAMESPACE, None, self.namespace)
            if target_ns is not None and target_ns["metadata"].get("deletionTimestamp"):
                return self.report("namespace %s is being deleted in the target %s; wait until "
                                   "it is gone" % (self.namespace, self.target.label))
            self.target_namespace_exists = target_ns is not None
            self._sync(NAMESPACE, self.namespace, source_ns, target_ns)
            with _Pool(self.workers) as pool:
                # the kinds' lists, source and target side by side (one connection to each
                # cluster), while the kinds already listed are written in creation order
                source = pool.stream(self.source.list, self.kinds, self.namespace)
                target = pool.stream(self.target.list, self.kinds, self.namespace)
                for kind, listed, there in zip(self.kinds, source, target):
                    self._sync_kind(pool, kind, listed.result(), there.result())
        except (MigrationError, ApiError) as exc:
            return self.report(str(exc))
        return self.report()

    def _sync_kind(self, pool, kind, source, target):
        if source is None:
            return  # the source cluster does not serve it: nothing to copy
        source = {o["metadata"]["name"]: o for o in source}
        # None: the target does not serve it; the first write stops the run, saying so
        target = {o["metadata"]["name"]: o for o in target or ()}
        # what needs no request (skipped, unchanged) is settled here, the rest by the workers
        jobs = [(self._sync, (kind, name, source[name], target.get(name)))
                for name in sorted(source)
                if not self._settled(kind, name, source[name], target.get(name))]
        jobs += [(self._only_in_target, (kind, name, target[name]))
                 for name in sorted(set(target) - set(source))]
        pool.run_all(jobs)

    def _settled(self, kind, name, source_obj, target_obj):
        """True when the object was recorded without a request: skipped, or the target's
        equal after stripping (unchanged)."""
        reason = skip_reason(kind, source_obj)
        if reason:
            self._record(kind, "skipped", {"name": name, "reason": reason})
            return True
        if target_obj is None:
            return False
        desired = strip(kind, source_obj, self.target.version_of(kind), self.owner_uids)
        if normalize(desired, kind) != normalize(target_obj, kind):
            return False
        self.owner_uids[(kind.name, name)] = target_obj["metadata"].get("uid")
        self._record(kind, "unchanged", name)
        return True

    def _sync(self, kind, name, source_obj, target_obj, again=True):
        reason = skip_reason(kind, source_obj)
        if reason:
            self._record(kind, "skipped", {"name": name, "reason": reason})
            return
        desired = strip(kind, source_obj, self.target.version_of(kind), self.owner_uids)
        try:
            if target_obj is None:
                self._create(kind, name, desired)
            else:
                self._update(kind, name, desired, target_obj)
        except ApiError as exc:
            if again and exc.status == 409:  # a concurrent writer: read again, decide again
                self._sync(kind, name, source_obj, self.target.get(
                    kind, self.namespace, name), again=False)
                return
            self._record(kind, "failed", {"name": name, "error": str(exc)})

    def _create(self, kind, name, desired):
        if self.dry_run and not self.target_namespace_exists and kind is not NAMESPACE:
            self._record(kind, "create", name)  # cannot be tried: its namespace is planned
            return
        planned = self.target.create(kind, self.namespace, desired, dry_run=True)
        if not self.dry_run:
            body = _with_fingerprint(desired, fingerprint(planned, kind))
            made = self.target.create(kind, self.namespace, body)
            self.owner_uids[(kind.name, name)] = made["metadata"]["uid"]
            if kind is NAMESPACE:
                self.target_namespace_exists = True
        self._record(kind, "create", name)

    def _update(self, kind, name, desired, current):
        self.owner_uids[(kind.name, name)] = current["metadata"].get("uid")
        now = normalize(current, kind)
        if normalize(desired, kind) == now:
            self._record(kind, "unchanged", name)
            return
        body = dict(desired, metadata=dict(
            desired["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
        planned = self.target.replace(kind, self.namespace, name, body, dry_run=True)
        wanted = normalize(planned, kind)
        if wanted == now:
            self._record(kind, "unchanged", name)  # only defaulted differently
            return
        fields = diff_paths(now, wanted)
        recorded = _recorded(current)
        if not self.overwrite and recorded != fingerprint(current, kind) \
                and not (kind.name == "ServiceAccount" and name == "default" and not recorded):
            self._record(kind, "conflict", {"name": name, "fields": fields, "reason": (
                "changed in the target cluster since the migration wrote it" if recorded else
                "exists in the target cluster and was not written by the migration")})
            return
        if not self.dry_run:
            self.target.replace(kind, self.namespace, name,
                                _with_fingerprint(body, fingerprint(planned, kind)))
        self._record(kind, "update", {"name": name, "fields": fields})

    def _only_in_target(self, kind, name, current):
        recorded = _recorded(current)
        if not (self.prune and recorded):
            self._record(kind, "only_in_target", name)
            return
        if recorded != fingerprint(current, kind) and not self.overwrite:
            self._record(kind, "conflict", {"name": name, "fields": [], "reason": (
                "gone from the source cluster, but changed in the target cluster since the "
                "migration wrote it: not deleted")})
            return
        metadata = current["metadata"]
        try:
            self.target.delete(kind, self.namespace, name, metadata["uid"],
                               metadata["resourceVersion"], dry_run=self.dry_run)
        except ApiError as exc:
            if exc.status != 404:  # 404: already gone
                self._record(kind, "failed", {"name": name, "error": str(exc)})
                return
        self._record(kind, "delete", name)


def _entry_name(entry):
    return entry["name"] if isinstance(entry, dict) else entry


def _recorded(obj):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(FINGERPRINT)


def _with_fingerprint(obj, value):
    """``obj`` with the fingerprint annotation (a new object down to its annotations)."""
    metadata = dict(obj["metadata"])
    metadata["annotations"] = dict(metadata.get("annotations") or {}, **{FINGERPRINT: value})
    return dict(obj, metadata=metadata)
