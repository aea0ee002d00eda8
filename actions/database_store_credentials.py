"""aws.database_store_credentials: copy an RDS instance's master credentials into Vault.

The password is read from the Secrets Manager secret RDS manages (and copied again when RDS rotates
it); an instance without one gets a new random password, set once however many runs are at it at the
same time. How, and why it is safe: lib/database/master_credentials.py. The result holds non-secret
facts only (``version``, ``changed``, ``reason``, ``source_version``); the password is never
returned or logged.
"""

from lib.action import BaseAction
from lib.database.master_credentials import REASONS, CredentialsCopier, generate_password

__all__ = ["DatabaseStoreCredentials", "REASONS", "generate_password"]


class DatabaseStoreCredentials(BaseAction):
    #: What does the work (a test may give a subclass).
    copier = CredentialsCopier
    #: A claimed, unrecorded version younger than this belongs to a run still at work.
    CLAIM_LEASE_SECONDS = CredentialsCopier.CLAIM_LEASE_SECONDS
    #: How long a run waits for another run's claim before failing (the workflow retries).
    WAIT_SECONDS = CredentialsCopier.WAIT_SECONDS
    POLL_SECONDS = CredentialsCopier.POLL_SECONDS
    #: Check-and-set rounds lost to concurrent writers before giving up.
    ATTEMPTS = CredentialsCopier.ATTEMPTS

    def run(self, db_instance_identifier, vault_path, uid, credentials=None, region=None,
            endpoint_url=None):
        copier = self.copier(
            self.config, self.logger, CLAIM_LEASE_SECONDS=self.CLAIM_LEASE_SECONDS,
            WAIT_SECONDS=self.WAIT_SECONDS, POLL_SECONDS=self.POLL_SECONDS,
            ATTEMPTS=self.ATTEMPTS)
        return copier.run(db_instance_identifier, vault_path, uid, credentials=credentials,
                          region=region, endpoint_url=endpoint_url)
