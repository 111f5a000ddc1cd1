"""Time an ONNX model with ONNX Runtime on this machine.

Needs only onnxruntime, numpy and the standard library, so a device agent can use it
on a board without torch. :func:`measure_onnx` = :func:`open_session` (screen the
bytes, pick the execution provider, build the session) + :func:`time_session`
(warm-up, then timed runs until both a minimum count and a minimum time are reached).
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from hwsearch.errors import InvalidModelError, MeasurementError, ProviderUnavailableError
from hwsearch.latency._onnx_check import check_onnx_bytes
from hwsearch.latency._protocol import timed_rounds, wall_timer, with_drift
from hwsearch.measurement import ORT_PROVIDERS, ORT_RUNTIME, Measurement, MeasureSettings, model_identity, utc_now

RUNTIME = ORT_RUNTIME
INPUT_SEED = 0
Clock = Callable[[], float]


def runtime_version() -> str:
    """The installed onnxruntime version."""
    return str(ort.__version__)


def available_providers() -> list[str]:
    """Execution providers the installed onnxruntime offers."""
    return list(ort.get_available_providers())


def check_provider(provider: str) -> None:
    """Raise :class:`ProviderUnavailableError` if this onnxruntime cannot run ``provider``."""
    wanted = ORT_PROVIDERS.get(provider)
    if wanted is None:
        raise ProviderUnavailableError(f"provider {provider!r} is not one of onnxruntime's", value=provider,
                                       hint=f"for ONNX models: {', '.join(ORT_PROVIDERS)}")  # fmt: skip
    have = available_providers()
    if wanted not in have:
        hint = "install onnxruntime-gpu (with CUDA, cuDNN and for tensorrt TensorRT) or measure on a board with --agent"
        raise ProviderUnavailableError(
            f"provider {provider} needs {wanted}, which onnxruntime {runtime_version()} here does not offer "
            f"(it offers {', '.join(have)})",
            value=provider,
            hint=hint if provider != "cpu" else None,
        )


def resolve_threads(threads: int) -> int:
    """``threads``, or for 0 the number of cores this process may run on."""
    if threads > 0:
        return threads
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def host_description() -> str:
    """Board model and CPU model, e.g. ``NVIDIA Jetson Nano Developer Kit (ARMv8 Processor rev 1 (v8l))``."""
    board = _read_text(Path("/proc/device-tree/model")).rstrip("\x00").strip()
    cpu = ""
    for line in _read_text(Path("/proc/cpuinfo")).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model", "Processor") and value.strip():
            cpu = value.strip()
            break
    cpu = cpu or platform.processor() or platform.machine() or "unknown CPU"
    return f"{board} ({cpu})" if board else cpu


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _provider_list(settings: MeasureSettings) -> list[Any]:
    cuda_options = {"device_id": "0", "cudnn_conv_algo_search": "EXHAUSTIVE"}
    if settings.provider == "cpu":
        return ["CPUExecutionProvider"]
    if settings.provider == "cuda":
        return [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
    trt_options = {
        "device_id": "0",
        "trt_fp16_enable": "True" if settings.precision == "fp16" else "False",
        # Engines built in this process only: a cache on disk could outlive a driver change.
        "trt_engine_cache_enable": "False",
    }
    return [("TensorrtExecutionProvider", trt_options), ("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]


@lru_cache(maxsize=1)
def _model_error_types() -> tuple[type, ...]:
    """onnxruntime's exception types that mean "this model is malformed or unsupported"."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("InvalidProtobuf", "InvalidGraph", "InvalidArgument", "NotImplemented", "Fail")
    return tuple(kind for name in names if isinstance(kind := getattr(state, name, None), type))


@dataclass
class OpenSession:
    """A built session with what timing it needs."""

    session: ort.InferenceSession
    settings: MeasureSettings
    threads: int
    model_sha256: str
    feed: dict[str, np.ndarray]
    label: str = ""  # what the model is, for a reference's identity

    @property
    def identity(self) -> str:
        """``label@sha256-prefix``: names a reference network and the exact model timed."""
        return model_identity(self.label, self.model_sha256)


def open_session(model_bytes: bytes, settings: MeasureSettings, label: str = "") -> OpenSession:
    """Screen ``model_bytes``, build an onnxruntime session for ``settings`` and a seeded random input."""
    check_onnx_bytes(model_bytes)
    check_provider(settings.provider)
    threads = resolve_threads(settings.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One operator at a time: MobileNets are chains, and parallel operators would only
    # make threads compete and timings noisier.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(bytes(model_bytes), options, providers=_provider_list(settings))
    except Exception as exc:  # onnxruntime has its own exception types, none shared with Python's
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, _model_error_types()):
            raise InvalidModelError(
                f"onnxruntime refused the model: {reason}", value=f"{len(model_bytes)} bytes"
            ) from None
        raise MeasurementError(f"onnxruntime could not create a session: {reason}", value=settings.provider) from None
    wanted = ORT_PROVIDERS[settings.provider]
    # onnxruntime silently falls back to the CPU when a GPU provider fails to load.
    if session.get_providers()[0] != wanted:
        raise ProviderUnavailableError(
            f"onnxruntime could not start {wanted} (it fell back to {session.get_providers()[0]})",
            value=settings.provider,
            hint="check the CUDA, cuDNN and TensorRT libraries match this onnxruntime-gpu build",
        )
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        raise InvalidModelError("the model must have exactly one float input", value=[i.name for i in inputs])
    shape = inputs[0].shape
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise InvalidModelError(f"the model's input shape {shape} is not fixed", value=shape)
    rng = np.random.default_rng(INPUT_SEED)
    feed = {inputs[0].name: rng.standard_normal(shape, dtype=np.float32)}
    digest = hashlib.sha256(model_bytes).hexdigest()
    return OpenSession(session, settings, threads, digest, feed, label)


@lru_cache(maxsize=4)
def reference_session(model_bytes: bytes, settings: MeasureSettings, label: str) -> OpenSession:
    """The drift reference's session, built once per process and settings (it stays warm between candidates)."""
    return open_session(model_bytes, settings, label)


def time_session(opened: OpenSession, reference: OpenSession | None = None, *,
                 clock: Clock = time.perf_counter) -> Measurement:  # fmt: skip
    """Warm up, then time single inferences until the settings' stopping rule is met.

    Each timed run is one ``session.run`` from host memory to host memory; on a GPU
    provider it includes copying the input in and the logits out, as an application's would.

    With a ``reference``, each timed run of the candidate is paired with one of the reference,
    in random order, and the stopping rule counts the time of both (so the protocol costs the
    same time and fewer candidate runs). A change in the machine's speed that lasts longer
    than one pair scales both and cancels in their ratio, which the record keeps.
    """
    settings = opened.settings
    sessions = [opened] if reference is None else [opened, reference]

    def run(item: OpenSession) -> Callable[[], object]:
        return lambda: item.session.run(None, item.feed)

    try:
        for item in sessions:
            for _ in range(settings.warmup_runs):
                item.session.run(None, item.feed)
        times_ms = timed_rounds([wall_timer(run(item), clock) for item in sessions], settings, clock)
    except Exception as exc:  # a failing run is reported, not hidden behind a traceback
        raise MeasurementError(f"onnxruntime failed while running the model: {exc}", value=settings.provider) from None
    record = Measurement.from_times(
        times_ms[0],
        warmup=settings.warmup_runs,
        provider=settings.provider,
        threads=opened.threads,
        precision=settings.precision,
        runtime=RUNTIME,
        runtime_version=runtime_version(),
        host=host_description(),
        timestamp=utc_now(),
        source="measured",
        model_sha256=opened.model_sha256,
    )
    return record if reference is None else with_drift(record, reference.identity, times_ms)


def measure_onnx(model_bytes: bytes, settings: MeasureSettings, reference: tuple[bytes, str] | None = None
                 ) -> Measurement:  # fmt: skip
    """Measure the latency of an ONNX model here with onnxruntime: one fresh session, then timing.

    ``reference`` (its ONNX bytes and a label) is the drift reference to interleave with,
    used when ``settings.interleave`` is on.
    """
    opened = open_session(model_bytes, settings)
    ref = reference_session(reference[0], settings, reference[1]) if reference and settings.interleave else None
    return time_session(opened, ref)
