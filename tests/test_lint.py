from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency"
    folders = [name for name in ("hwsearch", "tests", "benchmarks") if (ROOT / name).is_dir()]
    done = subprocess.run([ruff, "check", *folders], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_files_stay_small():
    big = {p.name: n for p in (ROOT / "hwsearch").rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}
