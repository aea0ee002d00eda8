"""Copying an RDS instance's master credentials into Vault (what aws.database_store_credentials
runs).

The password is read from the Secrets Manager secret RDS manages (``MasterUserSecret``). An
instance without one (created outside the pack, then adopted) gets a new random password here,
and several runs of this action may be at it at once (several action runners, the same trigger
delivered twice). Only one of them changes the password, and Vault ends holding the instance's
password -- claim first, then change, then write:

1. claim: write a version holding the new password as ``pending_password`` (the ``password``
   key keeps the previous one, if any) with check-and-set on the version read. Of the runs
   that read the same version only one can write it; the others re-read, find the claim and
   wait for it (``WAIT_SECONDS``, then fail with a check-and-set message the workflow
   retries).
2. change: ``modify_db_instance(MasterUserPassword=...)``, by the claimer only. If it fails,
   the claim is withdrawn (the previous data written back, or the claim deleted).
3. write: a version with the new password as ``password`` and no ``pending_password``, with
   check-and-set on the claim.

A claim older than ``CLAIM_LEASE_SECONDS`` was left by a run that died (StackStorm kills an
action after its timeout, 600 s, well within the lease): the next run claims on top of it with
a password of its own. Vault data and check-and-set are the only state, so no run can undo
another's step.

Following rotation (managed secret): RDS rotates the managed secret (every 7 days by default),
so the Vault secret's custom_metadata records, next to the owner uid (Vault replaces
custom_metadata whole: both are always written together), the Secrets Manager VersionId its
data was copied from (``st2-aws-source-version``, ``SecretState.source_version``). Each run
first asks ``describe_secret`` which version is staged AWSCURRENT (version metadata, no value):
when that is the recorded version, Vault's current version is not deleted and its other fields
match the instance, nothing is read or written ("up to date"). Otherwise the run reads the value
(``get_secret_value``; the VersionId it returns is the one recorded), writes it with
check-and-set on the version it read -- a round lost to a concurrent run re-reads both Vault and
the AWSCURRENT version, so concurrent runs end with one new version -- then records the version.
A secret written before versions were recorded is read once and gets its version recorded
(without a new Vault version when it holds the same data); one deleted by hand (metadata gone,
or its current version deleted or destroyed) is written again, with the owner claim.

The result holds non-secret facts only: ``version`` (Vault's current version), ``changed``
(a Vault version was written by this run), ``reason`` (``REASONS``) and ``source_version``
(the managed secret's VersionId copied; None without one). The password is never returned or
logged.
"""

import datetime
import json
import secrets
import string
import time

from lib.database.spec import check_kv_path, check_text
from lib.database.rds_params import TAG_UID, tag_map
from lib.stores.vault import KV, VaultError

__all__ = ["CredentialsCopier", "CredentialsError", "REASONS", "generate_password"]

# RDS master passwords: printable ASCII except '/', '"', '@' and space; 41 characters is the
# MySQL/MariaDB maximum. Letters and digits only keep it safe in URLs and shells.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40
#: Key of a claimed version's data holding the password being set.
PENDING = "pending_password"
#: Secrets Manager staging label of the version in use.
AWSCURRENT = "AWSCURRENT"
#: The result's ``reason``: why a version was written, or why none was.
REASONS = {
    "up to date": "Vault already held the instance's credentials; nothing was written",
    "source version recorded": "Vault held the managed secret's current password; only the "
                               "version it came from was recorded (no new Vault version)",
    "first copy": "Vault held nothing at the path (never written, or deleted with its metadata)",
    "restored": "Vault's current version was deleted or destroyed; written again",
    "rotated": "the managed secret was rotated; its new password was written",
    "updated": "other fields (host, port, user name, ...) changed; written",
    "password set": "no managed secret: a new password was set on the instance and written",
}


class CredentialsError(RuntimeError):
    """The instance or its credentials are not in a state that can be copied to Vault."""


def generate_password(length=PASSWORD_LENGTH):
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class CredentialsCopier(object):
    """One run of the copy (module docstring): ``run`` checks ownership, reads the instance and
    stores its credentials. The class attributes are the protocol's timings; the action passes
    its own, so that a test can shorten them."""

    #: A claimed, unrecorded version younger than this belongs to a run still at work.
    CLAIM_LEASE_SECONDS = 900
    #: How long a run waits for another run's claim before failing (the workflow retries).
    WAIT_SECONDS = 60
    POLL_SECONDS = 0.5
    #: Check-and-set rounds lost to concurrent writers before giving up.
    ATTEMPTS = 10

    def __init__(self, config, logger, **timings):
        self.config, self.logger = config, logger
        for name, value in timings.items():
            if not hasattr(type(self), name):
                raise TypeError("unknown timing %s" % name)
            setattr(self, name, value)
        self._clients, self._aws_args, self._identifier = {}, {}, None

    def run(self, db_instance_identifier, vault_path, uid, credentials=None, region=None,
            endpoint_url=None):
        check_text("db_instance_identifier", db_instance_identifier, "an RDS instance identifier")
        check_kv_path("vault_path", vault_path)
        check_text("uid", uid, "the Database's metadata.uid")
        vault = KV(self.config)
        # Ownership first: nothing is touched in AWS or Vault for a path someone else owns,
        # and an unreachable Vault fails here, before anything is written.
        state = self._owned_state(vault, vault_path, uid)
        self._clients = {}
        self._aws_args = {"region": region, "credentials": credentials,
                          "endpoint_url": endpoint_url}
        instance = self._instance(db_instance_identifier, uid)
        endpoint = instance.get("Endpoint") or {}
        if not endpoint.get("Address"):
            raise CredentialsError("RDS instance %s has no endpoint yet (status %s); store the "
                                   "credentials once it is available"
                                   % (db_instance_identifier, instance.get("DBInstanceStatus")))
        if state is None:
            # Claim the path before the password can change: a Vault that refuses writes (a
            # wrong mount, a read-only token) fails here, not after a new password is set.
            vault.claim(vault_path, uid)
        data = {
            "username": instance.get("MasterUsername"),
            "password": None,
            "engine": instance.get("Engine"),
            "host": endpoint["Address"],
            "port": endpoint.get("Port"),
            "dbname": instance.get("DBName") or "",
        }
        if (instance.get("MasterUserSecret") or {}).get("SecretArn"):
            version, changed, reason, source = self._store_managed(
                vault, vault_path, uid, data, instance)
        else:
            version, changed, reason = self._store_generated(vault, vault_path, uid, data)
            source = None
        return {"vault_path": vault_path, "vault_mount": vault.mount, "version": version,
                "source_version": source, "changed": changed, "reason": reason}

    # -- Vault -----------------------------------------------------------------------------
    @staticmethod
    def _owned_state(vault, path, uid):
        state = vault.metadata(path)
        if state is not None and state.owner != uid:
            raise VaultError("Vault secret %s belongs to %s, not Database uid %s; it was not "
                             "overwritten (choose another spec.vault.path)"
                             % (vault.where(path), "Database uid %s" % state.owner
                                if state.owner else "no Database (no st2-aws-uid "
                                "custom_metadata)", uid))
        return state

    def _store_managed(self, vault, path, uid, data, instance):
        """Copy the RDS-managed password, following its rotation (module docstring): the value
        is read only when Vault's copy is not of the version staged AWSCURRENT. Check-and-set
        write; a lost round re-reads Vault and the AWSCURRENT version, and finds the winner's
        data. Returns (version, changed, reason, source VersionId)."""
        arn = instance["MasterUserSecret"]["SecretArn"]
        source = password = None  # VersionId and password of the value read, kept across rounds
        for _ in range(self.ATTEMPTS):
            state = self._owned_state(vault, path, uid)
            current = vault.read(path) if state and state.version and not state.deleted \
                else None
            self._check_host(vault, path, current, data)
            recorded = state.source_version if state else None
            latest = self._current_source_version(arn)
            copied = bool(current and current.get("password")) and \
                _fields(current) == _fields(data)
            if copied and latest and recorded == latest:
                self.logger.info("Vault secret %s is up to date (version %d, managed secret "
                                 "version %s)", vault.where(path), state.version, latest)
                return state.version, False, "up to date", latest
            if password is None or source != latest:
                source, password = self._managed_value(instance)
            wanted = dict(data, password=password)
            if current == wanted:
                reason = "up to date"
                if recorded != source:
                    vault.claim(path, uid, source)
                    reason = "source version recorded"
                self.logger.info("Vault secret %s holds managed secret version %s (version %d): "
                                 "%s", vault.where(path), source, state.version, reason)
                return state.version, False, reason, source
            version = vault.try_write(path, wanted, cas=state.version if state else 0)
            if version is None:
                continue  # lost to a concurrent writer: re-read both sides
            # Records the source; also re-claims for a concurrent first claimer that lost.
            vault.claim(path, uid, source)
            if not state or not state.version:
                reason = "first copy"
            elif current is None:
                reason = "restored"
            elif current.get("password") != password and recorded != source:
                reason = "rotated"
            else:
                reason = "updated"
            self.logger.info("wrote the credentials of RDS instance %s to Vault secret %s "
                             "(version %d, managed secret version %s): %s", self._identifier,
                             vault.where(path), version, source, reason)
            return version, True, reason, source
        raise self._rounds_lost(vault, path)

    def _store_generated(self, vault, path, uid, data):
        """The claim / change / write protocol of the module docstring. Returns (version,
        changed, reason)."""
        identifier = self._identifier
        deadline = time.monotonic() + self.WAIT_SECONDS
        lost = 0
        while lost < self.ATTEMPTS:
            state = self._owned_state(vault, path, uid)
            current = vault.read(path) if state and state.version and not state.deleted \
                else None
            self._check_host(vault, path, current, data)
            if current and current.get(PENDING):
                if self._young(state):
                    if time.monotonic() >= deadline:
                        raise VaultError(
                            "Vault secret %s: another run is setting the master password of RDS "
                            "instance %s (version %d claimed at %s, check-and-set claim still "
                            "pending after %d s); nothing was changed, retry"
                            % (vault.where(path), identifier, state.version,
                               state.created.isoformat() if state.created else "?",
                               self.WAIT_SECONDS))
                    time.sleep(self.POLL_SECONDS)
                    continue
                self.logger.warning("Vault secret %s: the claim of version %d was abandoned; "
                                    "setting a new password", vault.where(path), state.version)
            elif current and current.get("password") and current.get("host") == data["host"]:
                # The instance's password is in Vault: refresh the other fields if they moved.
                wanted = dict(data, password=current["password"])
                if current == wanted:
                    self.logger.info("Vault secret %s is up to date (version %d)",
                                     vault.where(path), state.version)
                    return state.version, False, "up to date"
                version = vault.try_write(path, wanted, cas=state.version)
                if version is not None:
                    return version, True, "updated"
                lost += 1
                continue
            version = self._claim_change_write(vault, path, uid, data, state, current)
            if version is None:
                lost += 1  # another run claimed first: wait for it
                continue
            return version, True, "password set"
        raise self._rounds_lost(vault, path)

    def _rounds_lost(self, vault, path):
        return VaultError("Vault secret %s changed during %d check-and-set rounds; nothing was "
                          "overwritten, retry" % (vault.where(path), self.ATTEMPTS))

    def _claim_change_write(self, vault, path, uid, data, state, current):
        """Claim with a new password, set it on the instance, write it; None when another run
        claimed first."""
        identifier = self._identifier
        base = state.version if state else 0
        previous = {k: v for k, v in (current or {}).items() if k != PENDING}
        keep = previous.get("password") if previous.get("host") == data["host"] else None
        password = generate_password()
        claim = dict(data, password=keep or "", **{PENDING: password})
        claimed = vault.try_write(path, claim, cas=base)
        if claimed is None:
            return None
        try:
            self._aws("rds", "modify_db_instance", DBInstanceIdentifier=identifier,
                      MasterUserPassword=password, ApplyImmediately=True)
        except Exception:
            self._withdraw(vault, path, claimed, previous)
            raise
        version = vault.write(path, dict(data, password=password), cas=claimed)
        vault.claim(path, uid)  # a concurrent first claimer of the path lost the race above
        self.logger.info("RDS instance %s has no managed master secret: set a new master "
                         "password and wrote it to Vault secret %s (version %d)",
                         identifier, vault.where(path), version)
        return version

    def _withdraw(self, vault, path, claimed, previous):
        """Undo a claim whose password never reached the instance: the previous data back, or
        the claim deleted when there was none."""
        try:
            if previous.get("password"):
                vault.write(path, previous, cas=claimed)
            else:
                vault.retract(path, claimed)
        except VaultError as exc:
            self.logger.warning("could not withdraw the claim of Vault secret %s version %d: %s",
                                vault.where(path), claimed, exc)

    def _young(self, state):
        """The current version was written less than CLAIM_LEASE_SECONDS ago."""
        if state.created is None:
            return True
        return (_utc_now() - state.created).total_seconds() < self.CLAIM_LEASE_SECONDS

    def _check_host(self, vault, path, current, data):
        """Refuse a secret that holds another instance's credentials: its host is not an
        endpoint of this instance's identifier (another Database raced for the path)."""
        host = (current or {}).get("host")
        if host and host != data["host"] and not str(host).startswith(self._identifier + "."):
            raise VaultError("Vault secret %s holds the credentials of another RDS instance "
                             "(%s), not of %s; it was not overwritten (choose another "
                             "spec.vault.path)" % (vault.where(path), host, self._identifier))

    # -- AWS -------------------------------------------------------------------------------
    def _aws(self, service, method, **params):
        """``<service>.<method>(**params)`` with the run's credentials; AWS errors raise
        AwsCallError naming the operation (lib.aws)."""
        from lib.aws import call_operation, make_client  # pylint: disable=import-outside-toplevel

        if service not in self._clients:
            self._clients[service] = make_client(self.config, service, **self._aws_args)
        return call_operation(self._clients[service], method, params)

    def _instance(self, identifier, uid):
        response = self._aws("rds", "describe_db_instances", DBInstanceIdentifier=identifier)
        instance = response["DBInstances"][0]
        owner = tag_map(instance).get(TAG_UID)
        if owner != uid:
            raise CredentialsError("RDS instance %s belongs to %s, not Database uid %s; its "
                                   "credentials were not copied"
                                   % (identifier, "Database uid %s" % owner if owner
                                      else "no Database (no %s tag)" % TAG_UID, uid))
        self._identifier = instance["DBInstanceIdentifier"]
        return instance

    def _current_source_version(self, arn):
        """VersionId of the managed secret's version staged AWSCURRENT, from its version
        metadata (describe_secret; the value is not read), or None when none is."""
        response = self._aws("secretsmanager", "describe_secret", SecretId=arn)
        for version_id, stages in sorted((response.get("VersionIdsToStages") or {}).items()):
            if AWSCURRENT in (stages or ()):
                return version_id
        return None

    def _managed_value(self, instance):
        """(VersionId, password) of the managed secret's AWSCURRENT version."""
        arn = instance["MasterUserSecret"]["SecretArn"]
        response = self._aws("secretsmanager", "get_secret_value", SecretId=arn)
        try:
            return response["VersionId"], json.loads(response["SecretString"])["password"]
        except (KeyError, TypeError, ValueError):
            raise CredentialsError("the master user secret of RDS instance %s (%s) holds no "
                                   "JSON password" % (instance["DBInstanceIdentifier"],
                                                      arn)) from None


def _fields(data):
    """The credentials' fields other than the password."""
    return {key: value for key, value in (data or {}).items() if key != "password"}
