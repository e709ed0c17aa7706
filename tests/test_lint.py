"""ruff and mypy pass on the code (``infra/lint.sh``)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_and_mypy_pass():
    result = subprocess.run(["bash", "infra/lint.sh"], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
