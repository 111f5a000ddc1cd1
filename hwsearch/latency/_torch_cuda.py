"""Measured latency of an architecture as PyTorch runs it on an NVIDIA GPU (provider ``torch-cuda``).

For a machine that has PyTorch with CUDA but no onnxruntime-gpu. The network is built
from its :class:`~hwsearch.arch.Arch` (BatchNorm folded into the convolutions, as an
inference runtime does), moved to the GPU, optionally cast to fp16 and captured as a CUDA
graph. One timed run copies a fixed input from pinned host memory to the GPU, runs the
network and copies the logits back, timed by CUDA events on the stream (so launch gaps
count, as they do for an application), after the same warm-up and stopping rule and the
same drift-reference pairing as every other measured source (:mod:`._protocol`).

The only latency module that uses torch, and it imports torch when called, never at
import: the rest of :mod:`hwsearch.latency` stays free of it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwsearch.errors import MeasurementError, ProviderUnavailableError
from hwsearch.latency._protocol import TimedRun, timed_rounds, wall_timer, with_drift
from hwsearch.measurement import TORCH_CUDA, TORCH_RUNTIME, Measurement, MeasureSettings, model_identity, utc_now

if TYPE_CHECKING:
    from hwsearch.arch import Arch

RUNTIME = TORCH_RUNTIME
INPUT_SEED = 0


def unavailable_reason() -> str | None:
    """Why PyTorch here cannot time on a CUDA GPU, or None when it can."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if torch.version.cuda is None:
        return f"PyTorch {torch.__version__} here is a CPU-only build"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU"
    return None


def check_torch_cuda() -> None:
    """Raise :class:`ProviderUnavailableError` unless PyTorch here can time on a CUDA GPU."""
    reason = unavailable_reason()
    if reason is not None:
        raise ProviderUnavailableError(
            f"provider {TORCH_CUDA} needs PyTorch with CUDA and an NVIDIA GPU: {reason}",
            value=TORCH_CUDA,
            hint="install a CUDA build of torch on a machine with an NVIDIA GPU, or choose a CPU profile",
        )


@dataclass
class _Prepared:
    """A network ready to time: ``run`` enqueues one inference on the device."""

    run: Callable[[], Any]
    identity: str
    sha256: str


def _prepare(arch: Arch, settings: MeasureSettings, device: str, label: str) -> _Prepared:
    import torch

    from hwsearch.model import build_model

    dtype = torch.float16 if settings.precision == "fp16" else torch.float32
    model = _fold_batchnorm(build_model(arch, seed=INPUT_SEED).eval()).to(device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(INPUT_SEED)
    shape = (1, arch.in_channels, arch.resolution, arch.resolution)
    pinned = device.startswith("cuda")
    host_in = torch.randn(shape, generator=gen).to(dtype)
    host_in = host_in.pin_memory() if pinned else host_in
    static_in = torch.empty(shape, device=device, dtype=dtype)
    host_out = torch.empty((1, arch.num_classes), dtype=dtype, pin_memory=pinned)

    def forward() -> Any:
        return model(static_in)

    compute: Callable[[], Any] = forward
    if settings.cuda_graphs:
        compute = _captured(forward, static_in, host_in)

    def run() -> Any:
        with torch.inference_mode():
            static_in.copy_(host_in, non_blocking=pinned)
            host_out.copy_(compute(), non_blocking=pinned)
        return host_out

    sha = hashlib.sha256(f"{RUNTIME}:{arch.to_str()}".encode()).hexdigest()
    return _Prepared(run, model_identity(label, sha), sha)


def _fold_batchnorm(model: Any) -> Any:
    """``model`` with every Conv2d+BatchNorm2d pair folded into one Conv2d, as inference runtimes run it."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(getattr(module, "bn", None), nn.BatchNorm2d) and isinstance(getattr(module, "conv", None),
                                                                                  nn.Conv2d):  # fmt: skip
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model


def _captured(forward: Callable[[], Any], static_in: Any, host_in: Any) -> Callable[[], Any]:
    """``forward`` captured as one CUDA graph; replaying it returns the graph's static output."""
    import torch

    static_in.copy_(host_in)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    # PyTorch's rule for capture: warm up on a side stream first, so lazy initialisation
    # (cuDNN plans, workspace allocation) happens outside the graph.
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = forward()

    def replay() -> Any:
        graph.replay()
        return static_out

    return replay


def _event_timer(run: Callable[[], Any]) -> TimedRun:
    """One run timed by CUDA events recorded on the current stream around it, in ms."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def timed() -> float:
        start.record()
        run()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    return timed


def measure_torch(arch: Arch, settings: MeasureSettings, reference: tuple[Arch, str] | None = None, *,
                  device: str = "cuda", clock: Callable[[], float] = time.perf_counter) -> Measurement:  # fmt: skip
    """Time ``arch`` as PyTorch runs it on the GPU, paired with ``reference`` (an arch and its label) when
    given and ``settings.interleave`` asks for pairing.

    ``device`` other than ``cuda`` times on that torch device with the wall clock instead of
    CUDA events (how the protocol is tested on machines without a GPU); the record then
    names that device, never a GPU.
    """
    import torch

    reference = reference if settings.interleave else None  # as for ONNX Runtime: no pairing asked, none done
    on_gpu = device.startswith("cuda")
    if on_gpu:
        check_torch_cuda()
        torch.backends.cudnn.benchmark = True  # pick each convolution's fastest algorithm, as ORT's EXHAUSTIVE does
    elif settings.cuda_graphs:
        raise MeasurementError("CUDA graphs need a CUDA device", value=device)
    try:
        nets = [_prepare(arch, settings, device, "")]
        if reference is not None:
            nets.append(_prepare(reference[0], settings, device, reference[1]))
        for net in nets:
            for _ in range(settings.warmup_runs):
                net.run()
            out = net.run()
            if on_gpu:
                torch.cuda.synchronize()  # the logits were copied back without blocking
            _check_output(out, arch if net is nets[0] else None)
        timers = [_event_timer(n.run) if on_gpu else wall_timer(n.run, clock) for n in nets]
        times_ms = timed_rounds(timers, settings, clock)
    except torch.cuda.OutOfMemoryError:
        raise MeasurementError(f"the GPU ran out of memory timing {arch}", value=arch.to_str()) from None
    except RuntimeError as exc:  # CUDA and cuDNN failures arrive as RuntimeError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MeasurementError(f"PyTorch failed while timing the model: {reason}", value=TORCH_CUDA) from None
    record = Measurement.from_times(
        times_ms[0],
        warmup=settings.warmup_runs,
        provider=settings.provider,
        threads=1,
        precision=settings.precision,
        runtime=RUNTIME,
        runtime_version=_version(on_gpu),
        host=torch.cuda.get_device_name() if on_gpu else f"torch device {device}",
        timestamp=utc_now(),
        source="measured",
        model_sha256=nets[0].sha256,
    )
    return record if reference is None else with_drift(record, nets[1].identity, times_ms)


def _check_output(out: Any, arch: Arch | None) -> None:
    if arch is not None and tuple(out.shape) != (1, arch.num_classes):
        raise MeasurementError(f"the network gave logits of shape {tuple(out.shape)}", value=arch.to_str())
    if not all(math.isfinite(v) for v in out.float().flatten().tolist()):
        raise MeasurementError("the network's logits are not finite (fp16 overflow?)", value=str(out.dtype))


def _version(on_gpu: bool) -> str:
    import torch

    if not on_gpu:
        return str(torch.__version__)
    cudnn = torch.backends.cudnn.version()
    return f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN {cudnn})"
