"""aws.consul_sync: make a Consul KV prefix (or some of its keys) on the target agent equal to
the source agent's, with check-and-set; the one-shot copy with a diff, and what rule
aws.consul_sync runs for each change aws.ConsulKVSensor sees.

Values are never returned or logged: the report names keys. A key written in the target since the
sync wrote it is a conflict, kept (lib/stores/kv_sync.py); a key the target refuses (a value over
its kv_max_value_size, ...) or that could not be written because the target stopped answering is in
``failed``, with the reason, and the other keys are still written. Either fails the execution so
that it shows (unless it was a dry run), with the whole report as its result: StackStorm's python
runner takes ``(False, result)`` as a failed execution with that result.
"""

import time

from lib.action import BaseAction
from lib.kube.clusters import consul_cluster_config
from lib.stores.kv_sync import Agent, PrefixSync, check_prefix, lag_seconds

__all__ = ["ConsulSync"]


class ConsulSync(BaseAction):
    def run(self, target, prefix, source="", keys=None, dry_run=False, delete_extra=False,
            overwrite_conflicts=False, observed_at=0, changed_after=0):
        source, target = source or "", target or ""
        check_prefix(prefix)
        if source == target:
            raise ValueError('source and target are both "%s": name two Consul agents of the '
                             "pack config (consul_clusters; empty is the default agent)" % source)
        if keys is not None and not isinstance(keys, list):
            raise ValueError("keys must be a list of keys under the prefix, got %s"
                             % type(keys).__name__)
        for name in (source, target):
            consul_cluster_config(self.config, name)  # both names checked before any request
        started = time.time()
        sync = PrefixSync(Agent(self.config, source), Agent(self.config, target), prefix,
                          dry_run=dry_run, delete_extra=delete_extra,
                          overwrite_conflicts=overwrite_conflicts, logger=self.logger)
        report = sync.run(keys=keys or None)
        result = dict(report, source=source, target=target, prefix=prefix, dry_run=dry_run,
                      keys=len(keys) if keys else None,
                      seconds=round(time.time() - started, 3),
                      lag_seconds=lag_seconds(changed_after or observed_at))
        self.logger.info(
            "consul sync %s -> %s %s%s: created %d, updated %d, deleted %d, unchanged %d, "
            "conflicts %d, only in target %d, failed %d%s", source or "default", target, prefix,
            " (dry run)" if dry_run else "", len(report["created"]), len(report["updated"]),
            len(report["deleted"]), report["unchanged"], len(report["conflicts"]),
            len(report["only_in_target"]), len(report["failed"]),
            "; lag %.3f s" % result["lag_seconds"] if result["lag_seconds"] is not None else "")
        for conflict in report["conflicts"]:
            self.logger.warning("consul sync conflict on %s: %s", conflict["key"],
                                conflict["reason"])
        for failure in report["failed"]:
            self.logger.warning("consul sync failed on %s: %s", failure["key"], failure["reason"])
        ok = dry_run or not (report["conflicts"] or report["failed"])
        return ok, result
