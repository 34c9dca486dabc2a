#!/bin/sh
# Start or stop a throw-away local Redis Cluster: 3 masters + 3 replicas on
# 127.0.0.1, ports BASE .. BASE+5, state and logs under DIR/<port>/.
#
#   redis-cluster.sh start  [BASE] [DIR]   start, create, wait; prints the seed "127.0.0.1:BASE"
#   redis-cluster.sh stop   [BASE] [DIR]   stop the six servers, delete their state (logs stay)
#   redis-cluster.sh status [BASE] [DIR]   print "PORT master|slave PID" per node
#
# Defaults: BASE=7100, DIR=${TMPDIR:-/tmp}/redis-cluster-BASE.
# DEBUG is enabled for local connections, so tests can freeze a node with
# "redis-cli -p PORT debug sleep SECONDS".
# Environment: NODE_TIMEOUT (cluster-node-timeout in ms, default 5000; Redis's own
# default is 15000), WAIT (seconds to wait for the cluster, default 60),
# REDIS_SERVER / REDIS_CLI (binaries, default from PATH).
# TLS_CERT, TLS_KEY, TLS_CA (PEM files; all three or none): the nodes speak only
# TLS on BASE.. (tls-port, plain port off, tls-cluster and tls-replication on,
# client certificates optional) and redis-cli connects with --tls.
# Progress goes to stderr; stdout carries only the seed address, so tests can do
#   SEED=$(sh redis-cluster.sh start 7100 "$dir") || exit 1
set -eu

cmd=${1:-start}
base=${2:-7100}
dir=${3:-${TMPDIR:-/tmp}/redis-cluster-$base}
server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}
ports="$base $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) $((base + 5))"

say() { echo "redis-cluster: $*" >&2; }
tls_srv=; tls_cli=
if [ -n "${TLS_CERT:-}" ]; then
    tls_cli="--tls --cacert $TLS_CA"
    tls_srv="--tls-cert-file $TLS_CERT --tls-key-file $TLS_KEY --tls-ca-cert-file $TLS_CA
        --tls-cluster yes --tls-replication yes --tls-auth-clients optional"
fi
# shellcheck disable=SC2086
rc() { p=$1; shift; "$cli" $tls_cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null; }

# True when every node says cluster_state:ok, lists all six nodes in CLUSTER
# SLOTS, and every replica's link to its master is up. CLUSTER SLOTS omits a
# replica until its replication offset is non-zero (first replication ping);
# a client that connects earlier never learns the replicas. A replica that
# never synced refuses to fail over.
ready() {
    for p in $ports; do
        rc "$p" cluster info | grep -q '^cluster_state:ok' || return 1
        [ "$(rc "$p" cluster slots | grep -cE '^[0-9a-f]{40}$')" -eq 6 ] || return 1
        repl=$(rc "$p" info replication) || return 1
        case $repl in
        *role:slave*) echo "$repl" | grep -q '^master_link_status:up' || return 1 ;;
        esac
    done
}

case $cmd in
start)
    for p in $ports; do
        if rc "$p" ping >/dev/null; then say "port $p already answers; stop it first"; exit 1; fi
    done
    for p in $ports; do
        d=$dir/$p
        mkdir -p "$d"
        rm -f "$d/nodes.conf" "$d/dump.rdb"    # always a fresh cluster
        if [ -n "$tls_srv" ]; then listen="--port 0 --tls-port $p $tls_srv"; else listen="--port $p"; fi
        # shellcheck disable=SC2086
        "$server" $listen --bind 127.0.0.1 --dir "$d" \
            --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout "${NODE_TIMEOUT:-5000}" \
            --appendonly no --save '' --enable-debug-command local \
            --daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log"
    done
    for p in $ports; do    # wait until each server accepts connections
        n=0
        until rc "$p" ping >/dev/null; do
            n=$((n + 1)); [ "$n" -gt 100 ] && { say "node $p did not start (see $dir/$p/redis.log)"; exit 1; }
            sleep 0.1
        done
    done
    addrs=
    for p in $ports; do addrs="$addrs 127.0.0.1:$p"; done
    # redis-cli makes the first three nodes masters and the others their replicas.
    # shellcheck disable=SC2086
    "$cli" $tls_cli --cluster create $addrs --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
        { say "cluster create failed (see $dir/create.log)"; exit 1; }
    n=0
    until ready; do
        n=$((n + 1)); [ "$n" -gt $((${WAIT:-60} * 5)) ] && { say "cluster not ok after ${WAIT:-60}s"; exit 1; }
        sleep 0.2
    done
    say "cluster ok: masters and replicas on $ports, state in $dir"
    echo "127.0.0.1:$base"
    ;;
stop)
    pids=
    for p in $ports; do    # SIGTERM all first: each node needs ~2 s to exit
        f=$dir/$p/redis.pid    # (redis-server deletes it on a clean exit)
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null && pids="$pids $pid"
    done
    n=0    # whatever has not exited after 5 s (e.g. stopped with SIGSTOP) gets SIGKILL
    for pid in $pids; do
        while kill -0 "$pid" 2>/dev/null; do
            n=$((n + 1)); [ "$n" -ge 50 ] && kill -9 "$pid" 2>/dev/null
            sleep 0.1
        done
    done
    for p in $ports; do rm -f "$dir/$p/redis.pid" "$dir/$p/nodes.conf" "$dir/$p/dump.rdb"; done
    say "stopped $ports"
    ;;
status)
    for p in $ports; do
        role=$(rc "$p" role | head -n 1) || role=down
        pid=$(cat "$dir/$p/redis.pid" 2>/dev/null) || pid=-
        echo "$p ${role:-down} $pid"
    done
    ;;
*)
    say "usage: $0 start|stop|status [BASE_PORT] [DIR]"
    exit 2
    ;;
esac
