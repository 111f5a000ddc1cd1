"""Build a device's lookup table: time every distinct block of a space in context, and anchor networks.

Each entry is the chain :func:`~hwsearch.latency._lut_model.block_onnx` builds (a lead-in,
then the block; the stem alone), or a lead-in alone (``null``), or a whole exported
anchor network. Every one is timed with the device's protocol: with ``interleave`` (the
default) each run is paired with one of the drift reference, here or on the agent, and
the row keeps the ratio and the reference's median, so a table built through hours of
drift reads at one level (:class:`~hwsearch.latency._lut.LayerTable`).

The file is written row by row and flushed, so a build can be stopped at any point and
run again to resume: entries already in the file are skipped. Jobs run in a fixed
shuffled order, so a slow drift of the device's speed does not line up with one kind of
block, and a partial table covers the space evenly; anchors are spread through the run.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.devices import DeviceProfile
from hwsearch.errors import ProviderUnavailableError, SpaceError
from hwsearch.latency._lut import COLUMNS, FORMAT, LUT_SUFFIX, LookupTableError, read_rows
from hwsearch.latency._lut_keys import BlockKey, space_block_keys, with_leads
from hwsearch.measurement import TORCH_CUDA, Measurement, MeasureSettings, utc_now
from hwsearch.space import RandomSuggester, SearchSpace, sample_valid

DEFAULT_ANCHORS = 12
ANCHOR_SEED = 20240
ORDER_SEED = 0
PAPER_ANCHORS = ((1.0, 224), (0.75, 192), (0.5, 160), (0.25, 128))
Progress = Callable[[int, int, str], None]


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
    """One table row to measure: a block (or a lead-in alone) or a whole anchor network."""

    key: BlockKey | None
    arch: Arch | None

    def token(self) -> str:
        """What identifies the row in the file."""
        return self.key.token() if self.key is not None else f"net:{self.arch}"


def plan_jobs(space: SearchSpace, anchors: int = DEFAULT_ANCHORS) -> list[Job]:
    """Every row a full table for ``space`` has, in measuring order."""
    keys = sorted(with_leads(space_block_keys(space)))
    random.Random(ORDER_SEED).shuffle(keys)
    jobs = [Job(key, None) for key in keys]
    nets = default_anchors(space, anchors) if anchors > 0 else []
    for i, arch in enumerate(nets):
        # Spread the anchors through the run, so their fit sees the device as the blocks did.
        jobs.insert(round((i + 0.5) * len(jobs) / len(nets)) + i, Job(None, arch))
    return jobs


def row_token(row: dict[str, str]) -> str:
    """The :meth:`Job.token` of a row read back from a table."""
    if row["kind"] == "net":
        return f"net:{row['arch']}"
    return ":".join(row[c] for c in ("kind", "in_channels", "out_channels", "in_size", "stride", "lead_channels"))


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

    ``min_time_s`` overrides the profile's per-entry timing floor (blocks are short: 0.2 s
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
        "format": FORMAT,
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
        from hwsearch.latency._lut_model import block_onnx

        return block_onnx(job.key)
    from hwsearch.export import export_onnx

    assert job.arch is not None
    return export_onnx(job.arch)


def _row(job: Job, m: Measurement) -> list[object]:
    if job.key is not None:
        key = job.key
        numbers = [key.kind, key.in_channels, key.out_channels, key.in_size, key.stride, key.lead_channels,
                   key.out_size, key.macs]  # fmt: skip
        arch = ""
    else:
        from hwsearch.cost import count_cost

        assert job.arch is not None
        numbers, arch = ["net", 0, 0, job.arch.resolution, 0, 0, 0, count_cost(job.arch).macs], job.arch.to_str()
    timing = [f"{m.latency_ms:.6g}", f"{m.drift_ratio:.6g}", f"{m.reference_ms:.6g}", f"{m.p90_ms:.6g}"]
    return [*numbers, *timing, f"{m.cv:.4f}", m.runs, arch, m.timestamp]


def check_buildable(settings: MeasureSettings) -> None:
    """Raise :class:`ProviderUnavailableError` for settings no table can be timed with (provider ``torch-cuda``)."""
    if settings.provider == TORCH_CUDA:
        raise ProviderUnavailableError(
            f"lookup tables are timed with onnxruntime; provider {TORCH_CUDA} measures whole networks only",
            value=settings.provider,
            hint="build the table with a profile whose provider is cpu, cuda or tensorrt",
        )


def _measurer(settings: MeasureSettings, agent: object | None) -> tuple[Callable[[bytes], Measurement], dict[str, str]]:
    """How to time a model here or on the agent, and the facts the table header records."""
    if agent is None:
        import hwsearch.latency._runtime as runtime
        from hwsearch.latency._measure import drift_reference

        check_buildable(settings)
        runtime.check_provider(settings.provider)
        reference = drift_reference() if settings.interleave else None
        facts = {
            "measured_by": "this machine",
            "host": runtime.host_description(),
            "runtime": runtime.RUNTIME,
            "runtime_version": runtime.runtime_version(),
            "threads": str(runtime.resolve_threads(settings.threads)),
        }
        return (lambda data: runtime.measure_onnx(data, settings, reference)), facts
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
    lines = ["# hwsearch latency lookup table: blocks timed in context, each behind a lead-in, one session each",
             "# kinds: stem/ds/conv/head blocks; null = a lead-in alone; net = whole anchor network; "
             "ratio: to the drift reference",
             *(f"# {key}: {value}" for key, value in header.items()), ",".join(COLUMNS)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
