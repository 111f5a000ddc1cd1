"""Commands about latency on devices: ``latency`` and ``agent``.

Heavy modules (torch through the exporter, onnxruntime) are imported inside the
command functions, so that ``hwsearch agent`` never imports torch.
"""

from __future__ import annotations

import argparse
import os

from hwsearch.cli.arch_cmds import add_arch_arguments, arch_from_args
from hwsearch.cli.output import console
from hwsearch.latency.agent import TOKEN_ENV, add_agent_arguments
from hwsearch.latency.cache import CACHE_ENV, DEFAULT_CACHE


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    latency = sub.add_parser("latency", help="measure an architecture's latency on a device (cached)")
    add_arch_arguments(latency)
    latency.add_argument("--device", default="local-cpu", help="device profile name or YAML path (default local-cpu)")
    latency.add_argument(
        "--agent", metavar="URL", help=f"measure through the device agent at URL (token: ${TOKEN_ENV})"
    )
    latency.add_argument("--remeasure", action="store_true", help="measure again even if the cache has a figure")
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
    from hwsearch.latency import NOISY_CV, LatencyCache, measure_arch
    from hwsearch.latency.client import AgentClient

    arch = arch_from_args(args)
    device = load_device(args.device)
    agent_url = args.agent or device.agent_url
    agent = AgentClient(agent_url, os.environ.get(TOKEN_ENV)) if agent_url else None
    cache = LatencyCache(args.cache)
    m = measure_arch(arch, device, cache=cache, remeasure=args.remeasure, agent=agent)
    from_cache = cache.hits > 0
    macs = count_cost(arch).macs

    out = console()
    out.print(arch.to_str())
    out.print(f"MACs: {macs / 1e6:.1f}M ({macs:,})")
    where = f"agent {agent.url}" if agent is not None else "this machine"
    out.print(f"device: {device.name} ({device.kind}, measured on {where})")
    out.print(
        f"latency: median {m.median_ms:.3f} ms, p90 {m.p90_ms:.3f} ms, mean {m.mean_ms:.3f} ms, "
        f"std {m.std_ms:.3f} ms, CV {m.cv:.1%}"
    )
    out.print(f"runs: {m.runs} timed after {m.warmup} warm-up; {m.outliers} outliers; min {m.min_ms:.3f} ms")
    out.print(f"setup: provider {m.provider}, {m.threads} threads, {m.precision}; {m.runtime} {m.runtime_version}")
    out.print(f"host: {m.host}")
    cached = f"yes, from {cache.path}" if from_cache else f"no, stored in {cache.path}"
    out.print(f"source: {m.source} at {m.timestamp}; cached: {cached}")
    if m.noisy:
        out.print(
            f"[bold yellow]warning:[/bold yellow] CV {m.cv:.1%} is above {NOISY_CV:.0%}: the timings were disturbed; "
            "measure again on a quiet device with --remeasure"
        )
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from hwsearch.latency.agent import serve

    return serve(args.host, args.port, token=args.token, max_bytes=args.max_bytes)
