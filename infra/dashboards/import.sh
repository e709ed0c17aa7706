#!/bin/sh
# Import reko's OpenSearch Dashboards saved objects (index pattern reko-frames*, four
# visualizations, the "reko: video archive" dashboard) from reko.ndjson beside this script.
#
#   sh infra/dashboards/import.sh [DASHBOARDS_URL]     # default http://127.0.0.1:5601
#
# Re-running replaces the objects (overwrite=true). Waits up to ${REKO_DASHBOARDS_TIMEOUT_S:-180} s
# for Dashboards to report ready. POSIX sh + curl only, so it also runs in the curlimages/curl
# container of infra/docker-compose.yml. Basic auth: DASHBOARDS_URL=https://user:pass@host:5601.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
url=${1:-${REKO_DASHBOARDS_URL:-http://127.0.0.1:5601}}
url=${url%/}
timeout_s=${REKO_DASHBOARDS_TIMEOUT_S:-180}

waited=0
until curl -fsS --max-time 5 "$url/api/status" 2>/dev/null | grep -q '"state":"green"'; do
  if [ "$waited" -ge "$timeout_s" ]; then
    echo "import.sh: OpenSearch Dashboards at $url is not ready after ${timeout_s}s" >&2
    exit 1
  fi
  sleep 3
  waited=$((waited + 3))
done

response=$(curl -sS --max-time 60 -X POST "$url/api/saved_objects/_import?overwrite=true" \
  -H "osd-xsrf: true" --form "file=@$here/reko.ndjson")
echo "$response"
case "$response" in
  *'"success":true'*) echo "import.sh: imported reko.ndjson into $url (dashboard: $url/app/dashboards#/view/reko-dashboard)" >&2 ;;
  *) echo "import.sh: the import failed (see the response above)" >&2; exit 1 ;;
esac
