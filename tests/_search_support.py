"""Small, real inputs for search tests: a striped-image folder, a tiny space, a fast CPU profile."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

TINY_SPACE = textwrap.dedent(
    """\
    name: tiny
    input: {channels: 3, classes: 1000}
    base_resolution: 224
    rho: [0.571, 1.0]
    alpha: [0.25, 0.5]
    stem: {channels: 16, stride: 2}
    stages:
      - {channels: 32, depth: {min: 1, max: 2}, stride: [1, 2], block: [ds, conv]}
      - {channels: 64, depth: 1, stride: 2}
    rules:
      total_stride: {min: 2, max: 8}
    """
)

FAST_CPU = textwrap.dedent(
    """\
    name: fast-cpu
    description: local CPU with short timing, for tests
    kind: local
    measurement: {provider: cpu, threads: 1, warmup_runs: 2, min_runs: 5, min_time_s: 0.01}
    """
)

TINY_BUDGET = "quick:epochs=1,train_images=64,base_resolution=16,batch_size=16"
# The rung promoted networks are trained at in tests: a little more training than TINY_BUDGET.
TINY_TOP = "standard:epochs=2,train_images=64,base_resolution=16,batch_size=16"


def write_stripes(root: Path, per_class: int = 20, size: int = 16) -> Path:
    """Horizontal vs vertical stripes as PNG files, one folder per class."""
    rng = np.random.default_rng(0)
    for label in ("horizontal", "vertical"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 100, (size, size)).astype(np.uint8)
            phase = int(rng.integers(0, 4))
            if label == "horizontal":
                image[phase::4, :] += 150
            else:
                image[:, phase::4] += 150
            Image.fromarray(image).save(root / label / f"{i}.png")
    return root


def world(tmp_path: Path) -> dict[str, str]:
    """Paths of a tiny space, a fast device profile and an image folder under ``tmp_path``."""
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE)
    (tmp_path / "fast-cpu.yaml").write_text(FAST_CPU)
    images = write_stripes(tmp_path / "images")
    return {
        "space": str(tmp_path / "tiny.yaml"),
        "device": str(tmp_path / "fast-cpu.yaml"),
        "dataset": f"imagefolder:{images}",
        "budget": TINY_BUDGET,
        "rungs": TINY_TOP,
    }


def completed_in(db: Path, study: str = "hwsearch") -> int:
    """COMPLETE trials of ``study`` in a run's SQLite file, read without taking the write lock the run needs."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            # The file also holds the run's records study; count the searched study's trials only.
            query = ("SELECT COUNT(*) FROM trials JOIN studies USING (study_id) "
                     "WHERE state = 'COMPLETE' AND study_name = ?")  # fmt: skip
            return con.execute(query, (study,)).fetchone()[0]
    except sqlite3.Error:  # tables not made yet, or locked for a moment
        return 0
