"""Do hwsearch's GPU timing paths give sane figures on a real NVIDIA GPU?

Measures the paper's 16 MobileNets and 20 samples of the default space with every
provider that can run on the machine: ONNX Runtime's CPU provider (the baseline), its CUDA
and TensorRT providers where onnxruntime-gpu is installed, and PyTorch's CUDA path
(``torch-cuda``) in fp32 and fp16, eager and replayed as CUDA graphs. Every measurement
uses the drift-cancelling protocol. Then it checks, and prints PASS or FAIL for each:

1. every latency is finite and between 5 µs and 200 ms;
2. the median CV of the timed runs is at most 10% per configuration;
3. CUDA graphs are not slower than eager (median ratio ≤ 1.05), since a graph only removes launch cost;
4. CUDA-event times agree with the wall clock around synchronised runs (ratio in [0.7, 1.5]);
5. fp16 logits agree with fp32 ones (max difference ≤ 5% of the largest fp32 logit);
6. the largest grid network (1.0-224) is not faster than the smallest (0.25-128);
7. three networks measured again at the end agree with their first ratios to the reference within 10%.

Written for a short lease on a GPU machine (about 3 minutes on an H200 with ``--quick``);
``--torch-device cpu`` runs the same script without a GPU (no graphs, no events, no
fp16) to check the script itself. The space samples need pydantic; where it is missing,
only the grid is measured, and the script says so.

    python benchmarks/gpu_check.py [--quick] [--out gpu_check.json] [--torch-device cuda]

On a machine with PyTorch but without hwsearch's other dependencies, put the repository on
``PYTHONPATH`` and install pydantic's wheels (pydantic, pydantic_core, annotated-types,
typing-inspection) with ``pip install --no-deps --target DIR`` first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.cost import count_cost
from hwsearch.export import export_onnx
from hwsearch.latency._measure import drift_reference, drift_reference_arch
from hwsearch.latency._runtime import available_providers, measure_onnx
from hwsearch.latency._torch_cuda import measure_torch, unavailable_reason
from hwsearch.measurement import Measurement, MeasureSettings
from hwsearch.model import build_model

GRID = [(a, r) for a in (1.0, 0.75, 0.5, 0.25) for r in (224, 192, 160, 128)]
ORT_GPU = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}


def networks(samples: int) -> tuple[list[tuple[str, Arch]], str]:
    nets = [(f"mobilenet_v1-{a:g}-{r}", mobilenet_v1(a, r)) for a, r in GRID]
    try:
        from hwsearch.space import RandomSuggester, load_space, sample_valid
    except ImportError as exc:
        return nets, f"space samples skipped: {exc}"
    space, rng = load_space("mobilenet_v1"), RandomSuggester(0)
    nets += [(f"sample-{i}", sample_valid(space, rng)) for i in range(samples)]
    return nets, f"{samples} samples of the default space (seed 0)"


def configurations(torch_device: str, quick: bool) -> dict[str, MeasureSettings]:
    base = {"warmup_runs": 10, "min_runs": 30 if quick else 100, "min_time_s": 0.2 if quick else 1.0}
    configs = {"ort-cpu": MeasureSettings(provider="cpu", threads=1, **base)}  # one thread: torch keeps its own
    for ort_name, provider in ORT_GPU.items():
        if ort_name in available_providers():
            configs[f"ort-{provider}"] = MeasureSettings(provider=provider, threads=1, **base)
    if torch_device == "cpu" or unavailable_reason() is None:
        configs["torch fp32"] = MeasureSettings(provider="torch-cuda", threads=1, **base)
        if torch_device.startswith("cuda"):
            configs["torch fp32 graphs"] = MeasureSettings(provider="torch-cuda", threads=1, cuda_graphs=1, **base)
            configs["torch fp16"] = MeasureSettings(provider="torch-cuda", threads=1, precision="fp16", **base)
            configs["torch fp16 graphs"] = MeasureSettings(provider="torch-cuda", threads=1, precision="fp16",
                                                           cuda_graphs=1, **base)  # fmt: skip
    return configs


def measure(arch: Arch, settings: MeasureSettings, torch_device: str) -> Measurement:
    if settings.provider == "torch-cuda":
        return measure_torch(arch, settings, drift_reference_arch(), device=torch_device)
    return measure_onnx(export_onnx(arch), settings, drift_reference())


def events_against_wall(arch: Arch, runs: int = 50) -> float:
    """Wall-clock time per synchronised run over the CUDA-event median for the same network."""
    settings = MeasureSettings(provider="torch-cuda", threads=1, warmup_runs=10, min_runs=runs, min_time_s=0,
                               max_runs=runs, interleave=0)  # fmt: skip
    event_ms = measure_torch(arch, settings).median_ms
    model = build_model(arch, seed=0).eval().cuda()
    x = torch.randn(1, 3, arch.resolution, arch.resolution).pin_memory()
    with torch.inference_mode():
        for _ in range(10):
            model(x.cuda(non_blocking=True)).cpu()
        torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(runs):
            model(x.cuda(non_blocking=True)).cpu()
        torch.cuda.synchronize()
    return (time.perf_counter() - began) * 1e3 / runs / event_ms


def fp16_agreement(arch: Arch) -> float:
    """Largest |fp16 − fp32| logit over the largest |fp32| logit, on one seeded input."""
    model = build_model(arch, seed=0).eval().cuda()
    x = torch.randn(1, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(0)).cuda()
    with torch.inference_mode():
        full = model(x).float()
        half = model.half()(x.half()).float()
    return float((half - full).abs().max() / full.abs().max())


def check(name: str, ok: bool, detail: str, results: dict) -> None:
    results["checks"].append({"check": name, "pass": bool(ok), "detail": detail})
    print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed runs per network")
    parser.add_argument("--samples", type=int, default=20, help="space samples beside the 16 grid networks")
    parser.add_argument("--torch-device", default="cuda", help="cuda, or cpu to check the script without a GPU")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    args = parser.parse_args(argv)
    on_gpu = args.torch_device.startswith("cuda")
    nets, note = networks(args.samples)
    configs = configurations(args.torch_device, args.quick)
    gpu = torch.cuda.get_device_name() if on_gpu and unavailable_reason() is None else "none"
    print(f"GPU: {gpu}; torch {torch.__version__}; onnxruntime providers: {', '.join(available_providers())}")
    print(f"torch-cuda: {unavailable_reason() or 'available'}; {len(nets)} networks ({note})", flush=True)
    results: dict = {"gpu": gpu, "torch": torch.__version__, "note": note, "rows": [], "checks": []}
    table: dict[str, dict[str, Measurement]] = {c: {} for c in configs}
    began = time.perf_counter()
    for label, arch in nets:
        cells = []
        for config, settings in configs.items():
            m = measure(arch, settings, args.torch_device)
            table[config][label] = m
            results["rows"].append({"network": label, "arch": arch.to_str(), "macs": count_cost(arch).macs,
                                    "config": config, **m.to_dict(), "latency_ms": m.latency_ms})  # fmt: skip
            cells.append(f"{config} {m.latency_ms:8.3f}")
        print(f"{label:22s} {count_cost(arch).macs / 1e6:7.1f}M  " + "  ".join(cells), flush=True)
    print(f"measured in {time.perf_counter() - began:.0f} s; checks:")
    every = [m for column in table.values() for m in column.values()]
    check("latency in range", all(0.005 < m.latency_ms < 200 for m in every),
          f"{min(m.latency_ms for m in every):.3f}-{max(m.latency_ms for m in every):.3f} ms", results)  # fmt: skip
    for config, column in table.items():
        cv = statistics.median(m.cv for m in column.values())
        check(f"{config}: median cv ≤ 10%", cv <= 0.10, f"{cv:.1%}", results)
        big, small = column["mobilenet_v1-1-224"].latency_ms, column["mobilenet_v1-0.25-128"].latency_ms
        check(f"{config}: 1.0-224 not faster than 0.25-128", big >= small * 0.95, f"{big:.3f} vs {small:.3f} ms",
              results)  # fmt: skip
    for precision in ("fp32", "fp16"):
        eager, graphs = table.get(f"torch {precision}"), table.get(f"torch {precision} graphs")
        if eager and graphs:
            ratio = statistics.median(graphs[k].latency_ms / eager[k].latency_ms for k in eager)
            check(f"{precision} graphs not slower than eager", ratio <= 1.05, f"median ratio {ratio:.2f}", results)
    if on_gpu and "torch fp32" in table:
        for a, r in ((1.0, 224), (0.25, 128)):
            ratio = events_against_wall(mobilenet_v1(a, r))
            check(f"events vs wall clock, {a:g}-{r}", 0.7 <= ratio <= 1.5, f"wall/event {ratio:.2f}", results)
        diff = fp16_agreement(mobilenet_v1(1.0, 224))
        check("fp16 logits agree with fp32", diff <= 0.05, f"max diff {diff:.2%} of the largest logit", results)
    again = [(label, arch) for label, arch in nets if label in ("mobilenet_v1-1-224", "mobilenet_v1-0.5-160",
                                                                 "mobilenet_v1-0.25-128")]  # fmt: skip

    def level_free(m: Measurement) -> float:  # the ratio to the reference: what drift leaves alone
        return m.drift_ratio or m.latency_ms

    for config, settings in configs.items():
        drift = max(abs(level_free(measure(arch, settings, args.torch_device)) / level_free(table[config][label]) - 1)
                    for label, arch in again)  # fmt: skip
        check(f"{config}: repeat within 10%", drift <= 0.10, f"largest change {drift:.1%}", results)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    failed = [c["check"] for c in results["checks"] if not c["pass"]]
    print(f"{len(results['checks']) - len(failed)} of {len(results['checks'])} checks passed; wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
