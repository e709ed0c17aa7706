#!/usr/bin/env bash
# Stop the local OpenSearch started by start.sh (by the pid in its pid file; nothing else).
#
#   bash infra/opensearch/stop.sh          # idempotent: fine when it is not running
#   bash infra/opensearch/stop.sh --wipe   # also delete its data and logs
set -euo pipefail
CACHE=${REKO_OPENSEARCH_HOME:-$HOME/.cache/reko/opensearch}
PORT=${REKO_OPENSEARCH_PORT:-9200}
RUN=$CACHE/run-$PORT
PIDFILE=$RUN/opensearch.pid

if [[ -f $PIDFILE ]] && pid=$(cat "$PIDFILE") && kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop.sh: pid $pid ignored SIGTERM for 30 s; sending SIGKILL" >&2
    kill -9 "$pid"
  fi
  echo "stop.sh: stopped OpenSearch (pid $pid)" >&2
else
  echo "stop.sh: OpenSearch is not running on port $PORT" >&2
fi
rm -f "$PIDFILE"
if [[ "${1:-}" == "--wipe" ]]; then
  rm -rf "$RUN"
  echo "stop.sh: removed $RUN" >&2
fi
