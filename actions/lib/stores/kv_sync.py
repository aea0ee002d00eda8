"""Keep the keys of a Consul KV prefix on a target agent equal to a source agent's.

``PrefixSync(source, target, prefix, ...).run(keys=None)`` reads the source's keys (all of the
prefix, or the ``keys`` given), compares them with the target's and writes the differences with
check-and-set, deletions included. Its report names keys only: values are never in a report or
a log (they may be secrets).

Which target keys the sync may overwrite: every value it writes carries, in the entry's
``Flags``, a 64-bit fingerprint of the value (``marker(value)``). A target entry whose Flags do
not match its value was written by someone else (a plain ``consul kv put`` sets Flags to 0), so
when it differs from the source it is a **conflict**: reported, kept, unless
``overwrite_conflicts``. A target entry equal to the source's is left alone (its Flags are set
to the marker with check-and-set, so that later changes flow). The Flags of the source's
entries are therefore not copied.

Writes go in transactions of up to ``TXN_OPS`` check-and-set operations (Consul 1.8's limit is
64) whose JSON body, values in base64, stays under ``TXN_MAX_BYTES`` (Consul refuses a body over
its ``txn_max_req_len``, 512 KiB by default, with HTTP 413, although a plain KV put takes a value
of up to ``kv_max_value_size``, 512 KiB by default). A write whose operation alone would not fit
goes by the plain KV API, with the same check-and-set (the target's ModifyIndex read, 0 for a new
key) and Flags. A transaction refused because one entry moved is redone key by key, each key read
again and decided again (at most ``ATTEMPTS`` times), so concurrent syncs and writers converge;
one refused otherwise (a 413, say) is redone key by key with the plain API. A key the target
refuses (a value over its ``kv_max_value_size``, ...) is that key's failure (``failed``, with the
reason and the value's size); the other keys are still written. When the target stops answering
midway, the keys not yet written are failed too and the report keeps what was written.
"""

import base64
import hashlib
import json
import logging
import time

from lib.stores.consul_kv import ConsulError, address, client_from_config

__all__ = ["ATTEMPTS", "Agent", "PrefixSync", "TXN_MAX_BYTES", "TXN_OPS", "Unreachable",
           "check_prefix", "decide", "lag_seconds", "marker", "txn_batches", "txn_body_bytes"]

LOG = logging.getLogger(__name__)
TXN_OPS = 64
# Largest transaction body sent (bytes of the JSON, base64 values included): a margin under
# Consul's txn_max_req_len (512 KiB by default).
TXN_MAX_BYTES = 384 * 1024
# Up to this many named keys are read one by one; more, by listing the prefix once per agent.
READ_ONE_BY_ONE = 8
ATTEMPTS = 3
TIMEOUT = 15


def marker(value):
    """The Flags the sync writes with ``value`` (bytes or None): 64 bits of its sha256."""
    digest = hashlib.sha256(b"st2-consul-sync\0" + (value or b"")).digest()
    return int.from_bytes(digest[:8], "big")


def check_prefix(prefix):
    if not isinstance(prefix, str) or not prefix.strip() or prefix.startswith("/"):
        raise ValueError("prefix must be a key prefix such as apps/ (not empty: a whole KV store "
                         "is not synced; no leading /), got %r" % (prefix,))
    return prefix


class Unreachable(ConsulError):
    """The agent did not answer (connection refused, timeout): the next request would not fare
    better."""


def _op_bytes(operation):
    return len(json.dumps({"KV": operation}))


def txn_body_bytes(operations):
    """Bytes of the body ``Agent.txn`` sends for ``operations``: what Consul compares with its
    txn_max_req_len."""
    return len(json.dumps([{"KV": op} for op in operations]))


def txn_batches(operations, max_ops=None, max_bytes=None):
    """Split ``operations`` (in order) into ``(kind, [index, ...])``: ``("txn", indexes)``
    batches of at most ``max_ops`` (``TXN_OPS``) whose body is at most ``max_bytes``
    (``TXN_MAX_BYTES``), and ``("plain", [index])`` for an operation too large for any
    transaction by itself."""
    max_ops = TXN_OPS if max_ops is None else max_ops
    max_bytes = TXN_MAX_BYTES if max_bytes is None else max_bytes
    batches, batch, size = [], [], 2  # "[" and "]"
    for index, operation in enumerate(operations):
        cost = _op_bytes(operation)
        if 2 + cost > max_bytes:
            if batch:
                batches.append(("txn", batch))
                batch, size = [], 2
            batches.append(("plain", [index]))
            continue
        extra = cost + (2 if batch else 0)  # ", " between operations
        if batch and (len(batch) >= max_ops or size + extra > max_bytes):
            batches.append(("txn", batch))
            batch, size, extra = [], 2, cost
        batch.append(index)
        size += extra
    if batch:
        batches.append(("txn", batch))
    return batches


class Agent:
    """One Consul agent of the pack config (``cluster`` "" is the default agent)."""

    def __init__(self, config, cluster="", client=None):
        self.client = client or client_from_config(config, cluster)
        self.label = 'Consul agent "%s" (%s)' % (cluster or "default", address(config, cluster))

    def _call(self, doing, function, *args, **kwargs):
        import consul  # pylint: disable=import-outside-toplevel
        import requests  # pylint: disable=import-outside-toplevel

        try:
            return function(*args, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise Unreachable("%s is unreachable while %s: %s"
                              % (self.label, doing, type(exc).__name__)) from None
        except consul.ACLPermissionDenied:
            raise ConsulError("%s refused the token while %s: permission denied"
                              % (self.label, doing)) from None
        except consul.ConsulException as exc:
            raise ConsulError("%s failed while %s: %s"
                              % (self.label, doing, str(exc).strip()[:200])) from None

    def entries(self, prefix):
        """{key: (value bytes or None, ModifyIndex, Flags)} of every key under ``prefix``."""
        _, items = self._call("listing %s" % prefix, self.client.kv.get, prefix, recurse=True)
        return {item["Key"]: (item.get("Value"), item["ModifyIndex"], item.get("Flags") or 0)
                for item in items or []}

    def entry(self, key):
        _, item = self._call("reading %s" % key, self.client.kv.get, key)
        if item is None:
            return None
        return item.get("Value"), item["ModifyIndex"], item.get("Flags") or 0

    def put(self, key, value, cas, flags):
        return bool(self._call("writing %s" % key, self.client.kv.put, key, value, cas=cas,
                               flags=flags))

    def delete(self, key, cas):
        return bool(self._call("deleting %s" % key, self.client.kv.delete, key, cas=cas))

    def txn(self, operations):
        """Apply KV ``operations`` atomically; True when applied, False when a check-and-set
        failed (nothing applied)."""
        def send():
            return self.client.http.put(lambda response: response, "/v1/txn",
                                        data=json.dumps([{"KV": op} for op in operations]),
                                        headers=self.client.prepare_headers(None))

        response = self._call("writing %d keys in a transaction" % len(operations), send)
        if response.code == 200:
            return True
        if response.code == 409:
            return False
        raise ConsulError("%s refused a transaction of %d keys: HTTP %s %s"
                          % (self.label, len(operations), response.code,
                             str(response.body)[:200]))


def decide(source, target, overwrite=False, full=False, delete_extra=False):
    """What to do with a key: ``(outcome, reason)``. ``source``/``target`` are
    ``(value, index, flags)`` or None. Outcomes: create, update, delete, unchanged, adopt
    (equal, Flags to set), conflict, only_in_target, absent. ``full``: the whole prefix is
    synced, and a key only the target has is deleted only with ``delete_extra``; else the key
    was named (changed or deleted in the source) and its deletion follows."""
    if source is None:
        if target is None:
            return "absent", None
        may_delete = delete_extra or not full
        if target[2] == marker(target[0]) or overwrite:
            return ("delete" if may_delete else "only_in_target"), None
        if full:
            return "only_in_target", None
        return "conflict", ("deleted in the source, but the target's value was not written by "
                            "the sync (changed there since): not deleted")
    if target is None:
        return "create", None
    if target[0] == source[0]:
        return ("unchanged" if target[2] == marker(target[0]) else "adopt"), None
    if target[2] == marker(target[0]) or overwrite:
        return "update", None
    return "conflict", ("changed in the target since the sync wrote it" if target[2] else
                        "the target's value was not written by the sync")


def _b64(value):
    return base64.b64encode(value or b"").decode("ascii")


class PrefixSync:
    """Make ``target``'s keys under ``prefix`` equal to ``source``'s (see the module doc)."""

    def __init__(self, source, target, prefix, dry_run=False, delete_extra=False,
                 overwrite_conflicts=False, logger=None):
        self.source = source
        self.target = target
        self.prefix = check_prefix(prefix)
        self.dry_run = dry_run
        self.delete_extra = delete_extra
        self.overwrite = overwrite_conflicts
        self.log = logger or LOG
        self.report = {"created": [], "updated": [], "deleted": [], "unchanged": 0,
                       "conflicts": [], "only_in_target": [], "failed": []}
        self._settled = set()

    def run(self, keys=None):
        """Sync ``keys`` (each under the prefix), or every key of the prefix when None: then
        target keys the source lacks are deleted only with ``delete_extra`` (and only those the
        sync wrote), else reported as only_in_target."""
        full = keys is None
        if full:
            source = self.source.entries(self.prefix)
            target = self.target.entries(self.prefix)
            names = sorted(set(source) | set(target))
        else:
            outside = [k for k in keys if not isinstance(k, str) or not k.startswith(self.prefix)]
            if outside:
                raise ValueError("keys %s are not under prefix %s"
                                 % (", ".join(map(repr, outside[:5])), self.prefix))
            names = sorted(set(keys))
            if len(names) > READ_ONE_BY_ONE:  # two listings cost less than many reads
                wanted = set(names)
                source = {k: e for k, e in self.source.entries(self.prefix).items()
                          if k in wanted}
                target = {k: e for k, e in self.target.entries(self.prefix).items()
                          if k in wanted}
            else:
                source = {k: e for k, e in ((k, self.source.entry(k)) for k in names) if e}
                target = {k: e for k, e in ((k, self.target.entry(k)) for k in names) if e}
        plan = []
        for key in names:
            outcome, reason = decide(source.get(key), target.get(key), self.overwrite,
                                     full=full, delete_extra=self.delete_extra)
            plan.append((key, outcome, reason, source.get(key), target.get(key)))
        self._apply(plan)
        return self.report

    # -- writing
    def _operation(self, key, outcome, source, target):
        if outcome == "create":
            return {"Verb": "cas", "Key": key, "Value": _b64(source[0]), "Index": 0,
                    "Flags": marker(source[0])}
        if outcome in ("update", "adopt"):
            value = source[0]
            return {"Verb": "cas", "Key": key, "Value": _b64(value), "Index": target[1],
                    "Flags": marker(value)}
        return {"Verb": "delete-cas", "Key": key, "Index": target[1]}

    def _apply(self, plan):
        writes = []
        for key, outcome, reason, source, target in plan:
            if outcome in ("create", "update", "adopt", "delete"):
                writes.append((key, outcome, source, target))
            else:
                self._record(key, outcome, reason)
        if self.dry_run:
            for key, outcome, _, _ in writes:
                self._record(key, outcome, None)
            return
        operations = [self._operation(k, o, s, t) for k, o, s, t in writes]
        settled = 0
        try:
            for kind, indexes in txn_batches(operations):
                if kind == "plain":
                    self._plain(writes[indexes[0]])
                else:
                    self._txn([writes[i] for i in indexes], [operations[i] for i in indexes])
                settled = indexes[-1] + 1
        except Unreachable as exc:  # the keys not yet written fail; the report keeps the rest
            for key, _, _, _ in writes[settled:]:
                if key not in self._settled:
                    self._record(key, "failed", "not written: %s" % exc)

    def _txn(self, batch, operations):
        try:
            applied = self.target.txn(operations)
        except Unreachable:
            raise
        except ConsulError as exc:  # refused as a whole (a 413, ...): key by key, plain API
            self.log.warning("consul sync: %s (its keys are written one by one)", exc)
            for write in batch:
                self._plain(write)
            return
        if applied:
            for key, outcome, _, _ in batch:
                self._record(key, outcome, None)
        else:  # an entry moved meanwhile: key by key, each read and decided again
            for key, _, _, _ in batch:
                self._one(key)

    def _plain(self, write):
        """The write planned for a key, by the plain KV API with the check-and-set the
        transaction would have made; a key moved meanwhile is read and decided again."""
        key, outcome, source, target = write
        try:
            done = self._cas_write(key, outcome, source, target)
        except Unreachable:
            raise
        except ConsulError as exc:
            self._refused(key, outcome, source, exc)
            return
        if done:
            self._record(key, outcome, None)
        else:
            self._one(key)

    def _cas_write(self, key, outcome, source, target):
        """Write (or delete) one key by the plain KV API with check-and-set on the target's
        ModifyIndex (0: the key must not exist yet); True when done."""
        if outcome == "delete":
            return self.target.delete(key, cas=target[1])
        return self.target.put(key, source[0], cas=0 if target is None else target[1],
                               flags=marker(source[0]))

    def _refused(self, key, outcome, source, error):
        if outcome == "delete":
            self._record(key, "failed", "not deleted: %s" % error)
        else:
            self._record(key, "failed", "value of %d bytes not written: %s"
                         % (len(source[0] or b""), error))

    def _one(self, key):
        try:
            self._one_attempts(key)
        except Unreachable:
            raise
        except ConsulError as exc:
            self._record(key, "failed", "not written: %s" % exc)

    def _one_attempts(self, key):
        for _ in range(ATTEMPTS):
            source, target = self.source.entry(key), self.target.entry(key)
            outcome, reason = decide(source, target, self.overwrite)
            try:
                if outcome not in ("create", "update", "adopt", "delete"):
                    self._record(key, outcome, reason)
                    return
                done = self._cas_write(key, outcome, source, target)
            except Unreachable:
                raise
            except ConsulError as exc:
                self._refused(key, outcome, source, exc)
                return
            if done:
                self._record(key, outcome, None)
                return
        self._record(key, "failed", "the target's entry kept changing (%d attempts)" % ATTEMPTS)

    def _record(self, key, outcome, reason):
        self._settled.add(key)
        if outcome in ("unchanged", "adopt", "absent"):
            self.report["unchanged"] += 1
        elif outcome == "conflict":
            self.report["conflicts"].append({"key": key, "reason": reason})
        elif outcome == "failed":
            self.report["failed"].append({"key": key, "reason": reason})
        elif outcome == "only_in_target":
            self.report["only_in_target"].append(key)
        else:
            self.report[{"create": "created", "update": "updated",
                         "delete": "deleted"}[outcome]].append(key)
        if outcome not in ("unchanged", "absent"):
            self.log.debug("consul sync %s -> %s: %s %s", self.source.label, self.target.label,
                           key, outcome)


def lag_seconds(changed_after, now=None):
    """Seconds from the earliest a change can have been made on the source (epoch
    ``changed_after``, from the sensor's trigger) to now; None if unknown (a run by hand)."""
    if not changed_after:
        return None
    return round(max(0.0, (now or time.time()) - float(changed_after)), 3)
