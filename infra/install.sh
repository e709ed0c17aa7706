#!/usr/bin/env bash
# Install what reko needs on a fresh Debian/Ubuntu machine, into ./.venv.
#   bash infra/install.sh          # the app: ffmpeg, tesseract (kor+eng), Korean fonts, Node.js
#                                  # (label detector), reko with its local engines
#   bash infra/install.sh --dev    # the same plus what the tests need: Chromium (browser tests),
#                                  # Maven + Java (the local OpenSearch), test packages, axe-core
# Idempotent: installed system packages are skipped; pip and npm reuse what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

SYSTEM_PACKAGES=(ffmpeg tesseract-ocr tesseract-ocr-kor tesseract-ocr-eng fonts-nanum fonts-noto-cjk
                 python3-venv nodejs npm curl unzip)
((dev)) && SYSTEM_PACKAGES+=(chromium maven default-jre-headless)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Node.js and Maven may come from elsewhere (nvm, a JDK bundle): only install what is absent.
command -v node >/dev/null && command -v npm >/dev/null && missing=("${missing[@]/nodejs}") && missing=("${missing[@]/npm}")
command -v mvn >/dev/null && missing=("${missing[@]/maven}")
command -v java >/dev/null && missing=("${missing[@]/default-jre-headless}")
python3 -m venv --help >/dev/null 2>&1 && missing=("${missing[@]/python3-venv}")
read -r -a missing <<< "${missing[*]}"
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "installing system packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ((dev)); then
  .venv/bin/python -m pip install -q -e ".[dev]"
  # The SAM CLI (tests build the Lambda packages with `sam build`) pins boto3, click and pydantic
  # exactly, so it gets a venv of its own, linked as .venv/bin/sam (see infra/README.md).
  if [[ ! -x .venv/bin/sam ]]; then
    "$python" -m venv .venv/tools/sam-cli
    .venv/tools/sam-cli/bin/python -m pip install -q --upgrade pip
    .venv/tools/sam-cli/bin/python -m pip install -q "aws-sam-cli>=1.120"
    ln -sf ../tools/sam-cli/bin/sam .venv/bin/sam
  fi
  # face_recognition itself only for a cross-check test (reko calls dlib directly); --no-deps
  # because its dependency "dlib" would build from source (dlib-bin provides it)
  .venv/bin/python -m pip install -q --no-deps "face-recognition==1.3.0"
else
  .venv/bin/python -m pip install -q -e ".[local,faces,samples]"
fi
bash infra/install-labels.sh
if ((dev)); then
  # axe-core for the site's accessibility checks (tests/test_site_demo.py), from npm, outside the
  # package: the tests inject .cache/node-tools/node_modules/axe-core/axe.min.js into the page
  mkdir -p .cache/node-tools
  npm install --silent --no-audit --no-fund --prefix .cache/node-tools "axe-core@4" >/dev/null
fi
echo "reko installed in .venv ($(.venv/bin/reko --version))" >&2
