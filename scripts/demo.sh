#!/usr/bin/env bash
# The README's main command: local servers up, the Database CRD installed, an example Database
# applied, and the pack provisioning it until it is Ready. Safe to run again.
# Usage: scripts/demo.sh        (README: `make demo`)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> %s\n' "$*"; }

# shellcheck source=scripts/venv.sh
. scripts/venv.sh

say "starting the local servers: Kubernetes API, OpenBao (Vault), Consul, moto (AWS)"
say "(a cold first run builds kube-apiserver from Debian's source: about 5 minutes)"
scripts/stack.sh up

exec "$VENV/bin/python" scripts/demo.py "$@"
