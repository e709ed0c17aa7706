#!/usr/bin/env bash
# Install reko's optional label and moderation engines (the "labels" extra), into ./.venv and
# pipeline/analysis/labels_node/node_modules. Run after infra/install.sh.
#   bash infra/install-labels.sh
# Labels: Node.js >= 18 (Debian's nodejs + npm if absent) and, with `npm ci` from the committed
#   package-lock.json, @vladmandic/human 3.3.6 (ships the CenterNet COCO-80 model) and
#   @tensorflow/tfjs-core/-converter/-backend-wasm 4.22.0. Nothing is downloaded at run time.
# Moderation: nudenet 3.4.2 (ships its ONNX model). --no-deps: its opencv-python-headless would
#   clash with the opencv-python that rapidocr installs; reko uses only the model file, and
#   nudenet's other dependencies (numpy, onnxruntime) are reko's own.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null || (( $(node_major) < 18 )); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "installing Node.js and npm (Debian packages nodejs npm)" >&2
  $sudo apt-get update -qq
  pkgs=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
(( $(node_major) >= 18 )) || { echo "reko labels need Node.js >= 18, found $(node --version)" >&2; exit 1; }

(cd pipeline/analysis/labels_node && npm ci --omit=dev --no-audit --no-fund --loglevel=error)

python=.venv/bin/python
[[ -x $python ]] || { echo "run infra/install.sh first (no .venv)" >&2; exit 1; }
$python -m pip install -q --no-deps "nudenet==3.4.2"

# smoke test: both engines load and answer on a blank frame
$python - <<'PY'
import numpy as np
from reko.pipeline.analysis.labels import LabelDetector
from reko.pipeline.analysis.moderation import ModerationEngine
frame = np.zeros((72, 128, 3), np.uint8)
detector = LabelDetector()
detector.detect(frame)
detector.close()
ModerationEngine().detect(frame)
print("reko labels and moderation installed (node worker + nudenet)")
PY
