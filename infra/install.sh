#!/usr/bin/env bash
# Install what reko needs on a fresh Debian/Ubuntu machine, into ./.venv.
#   bash infra/install.sh          # the app: ffmpeg, tesseract (kor+eng), Korean fonts, reko[local,samples]
#   bash infra/install.sh --dev    # the same plus the test dependencies (reko[dev])
set -euo pipefail
cd "$(dirname "$0")/.."

extras="local,samples"
[[ "${1:-}" == "--dev" ]] && extras="dev"

SYSTEM_PACKAGES=(ffmpeg tesseract-ocr tesseract-ocr-kor tesseract-ocr-eng fonts-nanum fonts-noto-cjk)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
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
.venv/bin/python -m pip install -q -e ".[${extras}]"
echo "reko installed in .venv ($(.venv/bin/reko --version))" >&2
