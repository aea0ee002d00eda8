"""Kubernetes.

- api: the API client from the pack config and the sensor's trigger payloads.
- call: any operation of the official kubernetes client, as plain JSON (aws.kubernetes_call).
- events: Kubernetes Events about an object, as controllers record them.
- migrate: copying a namespace's infrastructure objects from one cluster to another.
- clusters: named Kubernetes clusters and Consul agents in the pack config.
"""
