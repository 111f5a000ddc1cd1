"""Shared pieces of the latency, agent and CLI tests (not a test module itself)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.latency import AgentServer
from hwsearch.measurement import MeasureSettings

# Small enough to export in ~0.2 s and run in well under a millisecond.
TINY: Arch = mobilenet_v1(0.25, 32, num_classes=10)
# Raw timing: direct measure_onnx and AgentClient calls here give no drift reference.
FAST = MeasureSettings(threads=1, warmup_runs=2, min_runs=5, min_time_s=0.0, max_runs=50, interleave=0)

FAST_PROFILE = """\
name: {name}
description: local CPU with very few runs, for tests
kind: {kind}
measurement:
  provider: {provider}
  threads: 1
  warmup_runs: 2
  min_runs: 5
  min_time_s: 0.0
  max_runs: 50
"""


def write_profile(folder: Path, name: str = "fast-cpu", *, kind: str = "local", provider: str = "cpu") -> Path:
    """A device profile file with FAST-like settings; returns its path."""
    path = folder / f"{name}.yaml"
    path.write_text(FAST_PROFILE.format(name=name, kind=kind, provider=provider), encoding="utf-8")
    return path


@contextmanager
def running_agent(**kwargs: Any) -> Iterator[AgentServer]:
    """A real agent on 127.0.0.1, any free port, served from a thread."""
    server = AgentServer("127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# A small space for table, validation and CLI tests: 2 alphas x 2 resolutions, 10 classes.
TINY_SPACE = """\
name: tiny
resolution: [32, 48]
alpha: [0.25, 0.5]
input: {channels: 3, classes: 10}
stem: {channels: 16, stride: 2}
stages:
  - {channels: 32, depth: [1, 2], stride: [1, 2], block: [ds, conv]}
  - {channels: 64, depth: [1], stride: 2}
rules:
  total_stride: {min: 4, max: 8}
"""


def one_error_line(capsys: Any) -> str:
    """The CLI's error output, checked to be one ``hwsearch: error:`` line with no traceback."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("hwsearch: error: ") and "Traceback" not in captured.err
    return lines[0]
