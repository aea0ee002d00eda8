"""RDS planning and a Database's lifecycle.

- spec: validation of a Database spec (every check before anything changes).
- plan: the plan of a Database event, what the workflows do.
- objects: Database objects in the Kubernetes API and the bounds of their status.
- source: spec.source, a Database restored from a snapshot or a point in time.
- rds_params: a valid spec as RDS identifiers, tags, create and modify arguments.
- parameter_groups: spec.parameters through the pack's DB parameter group, and reboots.
- resync: which Databases the resync runs, and why.
- observe: the resync's look at AWS, Vault and Consul for the Ready Databases.
- status: the status and Events aws.database_set_status writes, composed without I/O.
- master_credentials: copying an instance's master credentials into Vault.
- reserved_names: names RDS refuses for a database or its master user (data).
"""
