#!/usr/bin/env bash
# Lint and type-check reko: ruff on every Python file, mypy on the packages reko, reko.pipeline
# and reko.webapp (tests/test_lint.py runs this; so can you).
#   bash infra/lint.sh
# mypy names modules by their folders, and the layout maps pipeline/ and webapp/ onto
# reko.pipeline and reko.webapp (setuptools package-dir), which mypy cannot follow; so the
# packages are checked through a tree of symbolic links, build/typecheck/reko/, that has the
# import layout (new modules appear in it by themselves: the folders are linked, not copied).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}

"$python" -m ruff check reko pipeline webapp tests benchmarks

tree=build/typecheck
rm -rf "$tree" && mkdir -p "$tree/reko"
for f in reko/*.py; do ln -s "$PWD/$f" "$tree/reko/"; done
ln -s "$PWD/pipeline" "$tree/reko/pipeline"
ln -s "$PWD/webapp" "$tree/reko/webapp"
ln -s "$PWD/static" "$tree/reko/static"
MYPYPATH="$PWD/$tree" "$python" -m mypy --config-file pyproject.toml -p reko
