"""Build a device's lookup table: time every distinct layer of a space as a one-layer model.

Each entry is a one-layer ONNX model built directly with ``onnx.helper`` (no torch, a
millisecond each), exactly as the layer appears in an exported network: ``Conv`` with
the batch norm folded into its weights and bias, then ``Relu``; ``GlobalAveragePool`` +
``Flatten`` for the pool; ``Gemm`` for the classifier. Layers are timed one by one (dw
and pw separately, as :meth:`Arch.layers` lists them), so a table covers every
combination of blocks with the fewest entries; the boundary references and anchors in
:mod:`hwsearch.latency._lut` correct for what a layer alone pays.

The file is written row by row and flushed, so a build can be stopped at any point and
run again to resume: entries already in the file are skipped. Jobs run in a fixed
shuffled order, so a slow drift of the device's speed does not line up with one kind of
layer, and a partial table covers the space evenly; anchors are spread through the run.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.devices import DeviceProfile
from hwsearch.errors import SpaceError
from hwsearch.latency._lut import (
    COLUMNS,
    LUT_SUFFIX,
    LayerKey,
    LookupTableError,
    read_rows,
    space_layer_keys,
    with_boundaries,
)
from hwsearch.measurement import Measurement, MeasureSettings, utc_now
from hwsearch.space import RandomSuggester, SearchSpace, sample_valid

OPSET = 17
IR_VERSION = 8  # what opset 17 needs; older onnxruntime builds refuse newer IR versions
DEFAULT_ANCHORS = 12
ANCHOR_SEED = 20240
ORDER_SEED = 0
PAPER_ANCHORS = ((1.0, 224), (0.75, 192), (0.5, 160), (0.25, 128))
Progress = Callable[[int, int, str], None]


def layer_onnx(key: LayerKey) -> bytes:
    """A one-layer ONNX model of ``key`` (input ``input``, output ``output``), batch 1, fp32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    c_in, c_out, size = key.in_channels, key.out_channels, key.in_size
    inits, nodes = [], []
    if key.kind == "fc":
        in_shape, out_shape = [1, c_in], [1, c_out]
        weight = rng.standard_normal((c_out, c_in), dtype=np.float32) * 0.01
        inits = [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(np.zeros(c_out, np.float32), "B")]
        nodes = [helper.make_node("Gemm", ["input", "W", "B"], ["output"], transB=1)]
    elif key.kind == "pool":
        in_shape, out_shape = [1, c_in, size, size], [1, c_in]
        nodes = [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["output"], axis=1),
        ]
    else:
        layer = key.layer()
        k, groups = layer.kernel, layer.groups
        in_shape, out_shape = [1, c_in, size, size], [1, c_out, key.out_size, key.out_size]
        fan_in = (c_in // groups) * k * k
        weight = rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32) * np.sqrt(2.0 / fan_in)
        bias = rng.standard_normal(c_out, dtype=np.float32) * 0.01  # the folded batch norm's shift
        inits = [numpy_helper.from_array(weight.astype(np.float32), "W"), numpy_helper.from_array(bias, "B")]
        attrs = {"kernel_shape": [k, k], "pads": [k // 2] * 4, "strides": [key.stride] * 2, "group": groups,
                 "dilations": [1, 1]}  # fmt: skip
        nodes = [
            helper.make_node("Conv", ["input", "W", "B"], ["conv"], **attrs),
            helper.make_node("Relu", ["conv"], ["output"]),
        ]
    graph = helper.make_graph(
        nodes,
        f"hwsearch_{key.kind}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    model.producer_name = "hwsearch"
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def default_anchors(space: SearchSpace, count: int = DEFAULT_ANCHORS, seed: int = ANCHOR_SEED) -> list[Arch]:
    """Whole networks to fit the overhead on: the paper's four corner models if in ``space``, then samples."""
    anchors: list[Arch] = []
    for alpha, resolution in PAPER_ANCHORS:
        arch = mobilenet_v1(alpha, resolution, channel_rule=space.channel_rule)
        try:
            space.params_for(arch)
        except SpaceError:
            continue
        anchors.append(arch)
    rng = RandomSuggester(seed)
    for _ in range(50 * count):
        if len(anchors) >= count:
            break
        arch = sample_valid(space, rng)
        if arch not in anchors:
            anchors.append(arch)
    return anchors[:count]


@dataclass(frozen=True)
class Job:
    """One table row to measure: a layer (or boundary reference) or a whole anchor network."""

    key: LayerKey | None
    arch: Arch | None

    def token(self) -> str:
        """What identifies the row in the file."""
        return self.key.token() if self.key is not None else f"net:{self.arch}"


def plan_jobs(space: SearchSpace, anchors: int = DEFAULT_ANCHORS) -> list[Job]:
    """Every row a full table for ``space`` has, in measuring order."""
    keys = sorted(with_boundaries(space_layer_keys(space)))
    random.Random(ORDER_SEED).shuffle(keys)
    jobs = [Job(key, None) for key in keys]
    nets = default_anchors(space, anchors) if anchors > 0 else []
    for i, arch in enumerate(nets):
        # Spread the anchors through the run, so their fit sees the device as the layers did.
        jobs.insert(round((i + 0.5) * len(jobs) / len(nets)) + i, Job(None, arch))
    return jobs


def row_token(row: dict[str, str]) -> str:
    """The :meth:`Job.token` of a row read back from a table."""
    if row["kind"] == "net":
        return f"net:{row['arch']}"
    return ":".join(row[c] for c in ("kind", "in_channels", "out_channels", "in_size", "stride"))


@dataclass(frozen=True)
class BuildResult:
    """What one ``build_table`` run did."""

    path: Path
    total: int
    already: int
    measured: int
    noisy: int
    seconds: float

    @property
    def remaining(self) -> int:
        """Rows still to measure (a run stopped by ``limit``)."""
        return self.total - self.already - self.measured


def lut_path(profile: DeviceProfile) -> Path | None:
    """``device_profiles/NAME.lut.csv`` beside the profile file."""
    return profile.sidecar(LUT_SUFFIX)


def build_table(
    profile: DeviceProfile,
    space: SearchSpace,
    *,
    agent: object | None = None,
    path: Path | None = None,
    min_time_s: float | None = None,
    anchors: int = DEFAULT_ANCHORS,
    restart: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    jobs: list[Job] | None = None,
) -> BuildResult:
    """Measure the rows of ``space``'s table that ``path`` lacks, locally or through ``agent``.

    ``min_time_s`` overrides the profile's per-entry timing floor (layers are short: 0.2 s
    still gives hundreds of runs). ``limit`` stops after that many new rows. ``restart``
    deletes the file first. An existing file built with other settings, on another host
    or runtime version, is refused rather than mixed. ``jobs`` is :func:`plan_jobs`'s
    answer when the caller already has it.
    """
    from hwsearch.latency._client import AgentClient

    path = path or lut_path(profile)
    if path is None:
        raise LookupTableError("give a path for the table of a profile not read from a file", value=profile.name)
    settings = profile.settings if min_time_s is None else replace(profile.settings, min_time_s=min_time_s)
    measure, facts = _measurer(settings, agent if isinstance(agent, AgentClient) else None)
    header = {
        "device": profile.name,
        **facts,
        "settings": json.dumps(settings.to_dict(), sort_keys=True),
        "settings_digest": settings.digest(),
        "created": utc_now(),
        "space": f"{space.name} ({space.source})",
    }
    if restart and path.exists():
        path.unlink()
    done = _existing(path, header) if path.exists() else set()
    jobs = plan_jobs(space, anchors) if jobs is None else jobs
    todo = [job for job in jobs if job.token() not in done]
    already = len(jobs) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    started = time.perf_counter()
    measured = noisy = 0
    if progress is not None:
        progress(already, len(jobs), "")
    if todo and not path.exists():
        _write_header(path, header)
    if todo:
        with path.open("a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            for job in todo:
                m = measure(_model_bytes(job))
                writer.writerow(_row(job, m))
                handle.flush()  # each row survives an interruption
                measured += 1
                noisy += m.noisy
                if progress is not None:
                    progress(already + measured, len(jobs), job.token())
    return BuildResult(path, len(jobs), already, measured, noisy, time.perf_counter() - started)


def _model_bytes(job: Job) -> bytes:
    if job.key is not None:
        return layer_onnx(job.key)
    from hwsearch.export import export_onnx

    assert job.arch is not None
    return export_onnx(job.arch)


def _row(job: Job, m: Measurement) -> list[object]:
    if job.key is not None:
        key = job.key
        numbers = [key.kind, key.in_channels, key.out_channels, key.in_size, key.stride, key.out_size, key.macs]
        arch = ""
    else:
        from hwsearch.cost import count_cost

        assert job.arch is not None
        numbers, arch = ["net", 0, 0, job.arch.resolution, 0, 0, count_cost(job.arch).macs], job.arch.to_str()
    return [*numbers, f"{m.median_ms:.6g}", f"{m.p90_ms:.6g}", f"{m.cv:.4f}", m.runs, arch, m.timestamp]


def _measurer(settings: MeasureSettings, agent: object | None) -> tuple[Callable[[bytes], Measurement], dict[str, str]]:
    """How to time a model here or on the agent, and the facts the table header records."""
    if agent is None:
        import hwsearch.latency._runtime as runtime

        runtime.check_provider(settings.provider)
        facts = {
            "measured_by": "this machine",
            "host": runtime.host_description(),
            "runtime": runtime.RUNTIME,
            "runtime_version": runtime.runtime_version(),
            "threads": str(runtime.resolve_threads(settings.threads)),
        }
        return (lambda data: runtime.measure_onnx(data, settings)), facts
    from hwsearch.latency._client import AgentClient
    from hwsearch.latency._measure import check_agent

    assert isinstance(agent, AgentClient)
    check_agent(agent, settings)
    info = agent.info()
    threads = settings.threads or int(info.get("cpu_count", 0) or 0)
    facts = {
        "measured_by": f"agent {agent.url}",
        "host": str(info.get("host", "")),
        "runtime": str(info.get("runtime", "onnxruntime")),
        "runtime_version": str(info.get("runtime_version", "")),
        "threads": str(threads),
    }
    return (lambda data: agent.measure(data, settings)), facts


def _existing(path: Path, header: dict[str, str]) -> set[str]:
    """Tokens already in the file; refuses a file built differently."""
    found, rows = read_rows(path)
    for field in ("device", "settings_digest", "host", "runtime_version"):
        if found.get(field, "") != header[field]:
            raise LookupTableError(
                f"{path} was built with {field} {found.get(field, '?')!r}, this run has {header[field]!r}",
                value=str(path),
                hint="pass --restart to rebuild it, or --out for another file",
            )
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):  # a row torn by an interruption: drop it before appending
        path.write_text(text[: text.rfind("\n") + 1], encoding="utf-8")
    return {row_token(row) for row in rows}


def _write_header(path: Path, header: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# hwsearch per-layer latency lookup table: one fresh session per one-layer ONNX model",
             "# kinds: stem/dw/pw/conv/pool/fc layers; null = boundary reference; net = whole anchor network",
             *(f"# {key}: {value}" for key, value in header.items()), ",".join(COLUMNS)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
