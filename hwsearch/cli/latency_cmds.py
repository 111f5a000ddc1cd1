"""Commands about latency on devices: ``latency`` and ``agent``.

Heavy modules (torch through the exporter, onnxruntime) are imported inside the
command functions, so that ``hwsearch agent`` never imports torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hwsearch.cli.arch_cmds import add_arch_arguments, arch_from_args
from hwsearch.cli.output import console
from hwsearch.latency import CACHE_ENV, DEFAULT_CACHE, TOKEN_ENV, add_agent_arguments
from hwsearch.measurement import NOISY_CV, SOURCES

if TYPE_CHECKING:
    from hwsearch.devices import DeviceProfile
    from hwsearch.latency import AgentClient
    from hwsearch.measurement import Measurement


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    latency = sub.add_parser(
        "latency", help="an architecture's latency on a device: measured (cached), else from its table or predictor"
    )
    add_arch_arguments(latency)
    latency.add_argument("--device", default="local-cpu",
                         help="device profile name or YAML path, optionally :CONFIG (default local-cpu)")  # fmt: skip
    latency.add_argument(
        "--agent", metavar="URL", help=f"measure through the device agent at URL (token: ${TOKEN_ENV})"
    )
    latency.add_argument("--onnx", metavar="FILE", type=Path,
                         help="time this ONNX file as it is instead of an architecture (not cached)")  # fmt: skip
    latency.add_argument("--remeasure", action="store_true", help="measure again even if the cache has a figure")
    latency.add_argument(
        "--source",
        choices=SOURCES,
        help="measured, lut or predicted (default: the best available: measured, then the table, then the predictor)",
    )
    latency.add_argument(
        "--cache", metavar="PATH", help=f"latency cache file (default ${CACHE_ENV} or {DEFAULT_CACHE.as_posix()})"
    )
    latency.set_defaults(func=cmd_latency)

    agent = sub.add_parser("agent", help="serve latency measurements on this device (run it on the target board)")
    add_agent_arguments(agent)
    agent.set_defaults(func=cmd_agent)


def cmd_latency(args: argparse.Namespace) -> int:
    from hwsearch.cost import count_cost
    from hwsearch.devices import load_device
    from hwsearch.latency import AgentClient, LatencyCache, latency_for

    device = load_device(args.device)
    agent_url = args.agent or device.agent_url
    agent = AgentClient.from_env(agent_url) if agent_url else None
    if args.onnx is not None:
        return _latency_of_file(args, device, agent)
    arch = arch_from_args(args)
    cache = LatencyCache(args.cache)
    m = latency_for(arch, device, agent=agent, cache=cache, source=args.source, remeasure=args.remeasure)
    from_cache = cache.hits > 0
    macs = count_cost(arch).macs

    out = console()
    out.print(arch.to_str())
    out.print(f"MACs: {macs / 1e6:.1f}M ({macs:,})")
    if not m.is_measured:
        _print_estimate(m, device)
        return 0
    _print_measurement(m, device, agent)
    cached = f"yes, from {cache.path}" if from_cache else f"no, stored in {cache.path}"
    out.print(f"source: {m.source} at {m.timestamp}; cached: {cached}")
    return 0


def _latency_of_file(args: argparse.Namespace, device: DeviceProfile, agent: AgentClient | None) -> int:
    from hwsearch.errors import ArchError
    from hwsearch.latency import batch_one, measure_model

    if args.arch is not None or args.alpha is not None or args.resolution is not None:
        raise ArchError("give either --onnx FILE or an architecture, not both", value=str(args.onnx))
    if args.source not in (None, "measured"):
        raise ArchError(f"--source {args.source} needs an architecture: a file can only be measured",
                        value=args.source)  # fmt: skip
    model_bytes, pinned = batch_one(args.onnx.read_bytes())
    m = measure_model(model_bytes, device, agent=agent)
    batch = "; its batch axis fixed at 1 for timing" if pinned else ""
    console().print(f"{args.onnx} ({args.onnx.stat().st_size:,} bytes{batch})")
    _print_measurement(m, device, agent)
    console().print(f"source: {m.source} at {m.timestamp}; not cached")
    return 0


def _print_measurement(m: Measurement, device: DeviceProfile, agent: AgentClient | None) -> None:
    out = console()
    where = f"agent {agent.url}" if agent is not None else "this machine"
    out.print(f"device: {device.name} ({device.kind}, measured on {where})")
    out.print(
        f"latency: median {m.median_ms:.3f} ms, p90 {m.p90_ms:.3f} ms, mean {m.mean_ms:.3f} ms, "
        f"std {m.std_ms:.3f} ms, CV {m.cv:.1%}"
    )
    if m.reference:
        out.print(
            f"drift-corrected: {m.corrected_ms:.3f} ms = {m.drift_ratio:.4f} x the reference {m.reference}'s long-run "
            f"median {m.reference_long_run_ms:.3f} ms (this session {m.reference_ms:.3f} ms)"
        )
    out.print(f"runs: {m.runs} timed after {m.warmup} warm-up; {m.outliers} outliers; min {m.min_ms:.3f} ms")
    out.print(f"setup: provider {m.provider}, {m.threads} threads, {m.precision}; {m.runtime} {m.runtime_version}")
    out.print(f"host: {m.host}")
    if m.noisy:
        out.print(
            f"[bold yellow]warning:[/bold yellow] CV {m.cv:.1%} is above {NOISY_CV:.0%}: the timings were disturbed; "
            "measure again on a quiet device with --remeasure"
        )


def _print_estimate(m: Measurement, device: DeviceProfile) -> None:
    """A table or model figure, labelled so that it never reads as a measurement."""
    out = console()
    what = "lookup table" if m.source == "lut" else "calibrated predictor"
    out.print(f"device: {device.label} ({device.kind}; NOT measured: estimated by its {what})")
    out.print(f"latency: {m.median_ms:.3f} ms {m.uncertainty} ({m.source}, an estimate)")
    out.print(f"basis: {m.basis}")
    out.print(
        f"fit: {m.fit_points} whole-network measurements, in-sample residuals rms {m.fit_residual_rms_pct:.1f}%, "
        f"max {m.fit_residual_max_pct:.1f}% (not the expected error)"
    )
    threads = f", {m.threads} thread{'s' if m.threads != 1 else ''}" if m.threads else ""

    version = f" {m.runtime_version}" if m.runtime_version else ""
    out.print(f"refers to: {m.runtime}{version}, {m.precision}{threads}; host {m.host}")
    out.print(f"source: {m.source} (not measured); measure with --agent URL or a local profile")


def cmd_agent(args: argparse.Namespace) -> int:
    from hwsearch.latency import serve_parsed

    return serve_parsed(args)
