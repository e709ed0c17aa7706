#!/usr/bin/env bash
# Start the local OpenSearch fetched by fetch.sh, as a daemon on 127.0.0.1:${REKO_OPENSEARCH_PORT:-9200}.
#
#   bash infra/opensearch/start.sh        # fetches first if needed; returns once the cluster is up
#
# Single node (discovery.type=single-node), no security plugin (plain HTTP, no auth), heap
# ${REKO_OPENSEARCH_HEAP:-512m}, data/logs/pid under the cache dir, disk watermarks off (a full CI
# disk must not make the index read-only mid-test). Idempotent: if the pid file names a live
# process (or the port already answers), it only waits for health. Waits up to
# ${REKO_OPENSEARCH_TIMEOUT_S:-120} s for _cluster/health yellow or green; on timeout prints the log
# tail and exits 1. Stop with stop.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

CACHE=${REKO_OPENSEARCH_HOME:-$HOME/.cache/reko/opensearch}
PORT=${REKO_OPENSEARCH_PORT:-9200}
HEAP=${REKO_OPENSEARCH_HEAP:-512m}
TIMEOUT_S=${REKO_OPENSEARCH_TIMEOUT_S:-120}
URL=http://127.0.0.1:$PORT
RUN=$CACHE/run-$PORT
PIDFILE=$RUN/opensearch.pid
LOG=$RUN/logs/reko-local.log  # <cluster.name>.log

healthy() {
  curl -fsS --max-time 2 "$URL/_cluster/health" 2>/dev/null | grep -Eq '"status":"(green|yellow)"'
}
wait_healthy() {
  local deadline=$((SECONDS + TIMEOUT_S))
  until healthy; do
    if { [[ -f $PIDFILE ]] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; } ||
       grep -qs "uncaught exception in thread \[main\]" "$RUN/logs/stdout.log"; then
      echo "start.sh: OpenSearch exited during start-up; log tail ($LOG):" >&2
      tail -n 40 "$LOG" "$RUN/logs/stdout.log" 2>/dev/null >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "start.sh: OpenSearch not healthy at $URL after ${TIMEOUT_S}s; log tail ($LOG):" >&2
      tail -n 40 "$LOG" "$RUN/logs/stdout.log" 2>/dev/null >&2 || true
      if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "start.sh: stopping the node that did not come up (pid $(cat "$PIDFILE"))" >&2
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
      fi
      exit 1
    fi
    sleep 1
  done
  echo "start.sh: OpenSearch is up at $URL (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))" >&2
}

if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  wait_healthy
  exit 0
fi
if healthy; then
  echo "start.sh: something already serves a healthy cluster at $URL; using it" >&2
  exit 0
fi
# a pid file left by a node that has exited would make wait_healthy report the new node dead
# before it has written its own pid
rm -f "$PIDFILE"

home=$(bash "$here/fetch.sh")
mkdir -p "$RUN/data" "$RUN/logs" "$RUN/config"
# A private config dir (OPENSEARCH_PATH_CONF) keeps the fetched install pristine and lets
# several ports run side by side.
cp -f "$home/config/log4j2.properties" "$RUN/config/"
cp -f "$home/config/jvm.options" "$RUN/config/"
mkdir -p "$RUN/config/jvm.options.d"
printf -- '-Xms%s\n-Xmx%s\n' "$HEAP" "$HEAP" >"$RUN/config/jvm.options.d/heap.options"
cat >"$RUN/config/opensearch.yml" <<YML
cluster.name: reko-local
node.name: reko-local-$PORT
network.host: 127.0.0.1
http.port: $PORT
transport.port: $((PORT + 100))
discovery.type: single-node
path.data: $RUN/data
path.logs: $RUN/logs
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
YML

# The integ-test zip has no bundled JDK: use JAVA_HOME, else the java on PATH.
java_home=${OPENSEARCH_JAVA_HOME:-${JAVA_HOME:-}}
if [[ -z $java_home ]]; then
  java_bin=$(command -v java) || { echo "start.sh: Java 11+ is needed (set JAVA_HOME)" >&2; exit 1; }
  java_home=$(dirname "$(dirname "$(readlink -f "$java_bin")")")
fi

# OpenSearch refuses to run as root ("can not run opensearch as root"). As root (containers, CI
# images), run it in a user namespace without a root mapping (util-linux `unshare --user`): the
# JVM sees uid 65534 and holds no capabilities, while the files it writes stay the caller's.
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  command -v unshare >/dev/null && unshare --user true 2>/dev/null || {
    echo "start.sh: OpenSearch cannot run as root and 'unshare --user' is unavailable here;" \
         "run this script as an unprivileged user" >&2
    exit 1
  }
  as_user=(unshare --user)
fi

echo "start.sh: starting OpenSearch from $home on $URL (heap $HEAP)" >&2
OPENSEARCH_JAVA_HOME=$java_home OPENSEARCH_PATH_CONF=$RUN/config OPENSEARCH_JAVA_OPTS="${OPENSEARCH_JAVA_OPTS:-}" \
  "${as_user[@]}" "$home/bin/opensearch" -d -p "$PIDFILE" >"$RUN/logs/stdout.log" 2>&1 || {
    echo "start.sh: bin/opensearch failed to launch:" >&2
    tail -n 40 "$RUN/logs/stdout.log" >&2
    exit 1
  }
wait_healthy
