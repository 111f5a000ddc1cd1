"""Measured latency of an architecture or an ONNX model: here, or on a device agent, with the cache.

:func:`measure_arch` exports, times and caches; :func:`measure_model` times any ONNX bytes as they are.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from hwsearch.errors import AgentError, MeasurementError, ProviderUnavailableError
from hwsearch.latency._cache import CacheKey, LatencyCache
from hwsearch.measurement import ORT_PROVIDERS, TORCH_CUDA, Measurement, MeasureSettings

if TYPE_CHECKING:
    from hwsearch.arch import Arch
    from hwsearch.devices import DeviceProfile
    from hwsearch.latency._client import AgentClient


# The fixed network every candidate is timed beside when a profile interleaves: small enough
# to add little time, large enough to run the same kernels as the candidates.
DRIFT_REFERENCE = (0.5, 128)
# Long-run medians of the drift reference when there is no cache to keep them, by cache key.
_SESSION_LOG: dict[tuple[str, str, str], list[float]] = {}


def cache_key(arch: Arch, device: DeviceProfile, agent: AgentClient | None = None) -> CacheKey:
    """The cache key of ``arch`` on ``device`` (reached through ``agent``, if given)."""
    identity = device.identity(agent.url if agent is not None else None)
    return CacheKey(arch.to_str(), identity, device.settings.digest())


def drift_reference_arch() -> tuple[Arch, str]:
    """The drift reference's architecture and label (MobileNet V1 0.5-128)."""
    from hwsearch.arch import mobilenet_v1

    alpha, resolution = DRIFT_REFERENCE
    return mobilenet_v1(alpha, resolution), f"mobilenet_v1-{alpha:g}-{resolution}"


@lru_cache(maxsize=1)
def drift_reference() -> tuple[bytes, str]:
    """The drift reference's ONNX bytes and label (MobileNet V1 0.5-128)."""
    from hwsearch.export import export_onnx

    arch, label = drift_reference_arch()
    return export_onnx(arch), label


def check_measurable(provider: str) -> None:
    """Raise :class:`ProviderUnavailableError` unless ``provider`` can time here (onnxruntime's, or PyTorch's CUDA)."""
    if provider == TORCH_CUDA:
        from hwsearch.latency._torch_cuda import check_torch_cuda

        check_torch_cuda()
        return
    from hwsearch.latency._runtime import check_provider

    check_provider(provider)


def with_long_run(measurement: Measurement, key: CacheKey, cache: LatencyCache | None) -> Measurement:
    """``measurement`` with its reference's long-run median on ``key``'s device and settings, this
    session's median logged first (in ``cache``, or for this process when there is none)."""
    if not measurement.reference:
        return measurement
    if cache is not None:
        long_run = cache.log_reference(key, measurement.reference, measurement.reference_ms)
    else:
        log = _SESSION_LOG.setdefault((key.device, key.settings_digest, measurement.reference), [])
        log.append(measurement.reference_ms)
        long_run = statistics.median(log)
    return replace(measurement, reference_long_run_ms=long_run)


def measure_arch(
    arch: Arch,
    device: DeviceProfile,
    *,
    cache: LatencyCache | None = None,
    remeasure: bool = False,
    agent: AgentClient | None = None,
) -> Measurement:
    """The measured latency of ``arch`` on ``device``, from ``cache`` when it has it.

    Otherwise ``arch`` is exported to ONNX and timed here (a ``local`` profile) or by
    ``agent``, and the result is stored. ``remeasure`` skips the look-up, measures
    again and replaces the cached figure. A ``remote`` profile needs an agent to
    measure (not to read the cache); a profile's own ``agent_url`` is used when
    ``agent`` is None.
    """
    if agent is None and device.agent_url is not None:
        from hwsearch.latency._client import AgentClient

        agent = AgentClient.from_env(device.agent_url)
    settings = device.settings
    key = cache_key(arch, device, agent)
    if cache is not None and not remeasure:
        found = cache.get(key)
        if found is not None:
            return found
    _check_reachable(device, agent)
    # Find out whether the measurement can happen before spending time on the export.
    max_bytes = None
    if agent is None:
        check_measurable(settings.provider)
    else:
        max_bytes = check_agent(agent, settings)
    if settings.provider == TORCH_CUDA:
        from hwsearch.latency._torch_cuda import measure_torch

        measurement = measure_torch(arch, settings, drift_reference_arch())
    else:
        measurement = _time_model(_exported(arch, agent, max_bytes), settings, agent)
    measurement = with_long_run(replace(measurement, device=key.device), key, cache)
    if cache is not None:
        cache.put(key, measurement)
    return measurement


def _exported(arch: Arch, agent: AgentClient | None, max_bytes: int | None) -> bytes:
    """``arch``'s ONNX bytes, refused when larger than the agent accepts."""
    from hwsearch.export import export_onnx

    model_bytes = export_onnx(arch)
    if agent is not None and max_bytes is not None and len(model_bytes) > max_bytes:
        raise AgentError(
            f"the model of {arch} is {len(model_bytes)} bytes; the agent at {agent.url} accepts at most {max_bytes}",
            value=len(model_bytes),
            hint="restart the agent with a larger --max-bytes",
        )
    return model_bytes


def measure_model(model_bytes: bytes, device: DeviceProfile, *, agent: AgentClient | None = None) -> Measurement:
    """Time ONNX ``model_bytes`` as they are on ``device``: here (a ``local`` profile) or by ``agent``.

    Not cached: the bytes may be any model. The agent screens and size-checks them itself
    and refuses what it will not run, with :class:`AgentError`.
    """
    _check_reachable(device, agent)
    if device.settings.provider == TORCH_CUDA:
        raise ProviderUnavailableError(
            f"provider {TORCH_CUDA} (device {device.name!r}) times networks PyTorch builds from an architecture, "
            "not ONNX files",
            value=device.name,
            hint="time an ONNX file with a profile whose provider is cpu, cuda or tensorrt (e.g. local-cuda)",
        )
    if agent is None:
        check_measurable(device.settings.provider)
    else:
        check_agent(agent, device.settings)
    key = CacheKey("", device.identity(agent.url if agent is not None else None), device.settings.digest())
    return with_long_run(_time_model(model_bytes, device.settings, agent), key, None)


def _time_model(model_bytes: bytes, settings: MeasureSettings, agent: AgentClient | None) -> Measurement:
    """Time ``model_bytes`` here or on ``agent``; the callers have checked that it can be done."""
    if agent is None:
        from hwsearch.latency._runtime import measure_onnx

        return measure_onnx(model_bytes, settings, drift_reference() if settings.interleave else None)
    return agent.measure(model_bytes, settings)


def _check_reachable(device: DeviceProfile, agent: AgentClient | None) -> None:
    if agent is None and device.kind == "remote":
        raise MeasurementError(
            f"device {device.name!r} is a remote board and no agent is given",
            value=device.name,
            hint="start 'hwsearch agent' on the board and pass --agent URL (token in $HWSEARCH_AGENT_TOKEN)",
        )


def check_agent(agent: AgentClient, settings: MeasureSettings) -> int | None:
    """Ask the agent what it offers; raise if it cannot run ``settings.provider``. Returns its size limit.

    When ``settings`` interleave, the agent is given the drift reference unless it holds it already.
    """
    info = agent.info()
    limit = info.get("max_bytes")
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    offered = info.get("providers", [])
    wanted = ORT_PROVIDERS.get(settings.provider)
    if wanted is None:
        raise ProviderUnavailableError(
            f"provider {settings.provider} times on this machine only; an agent runs ONNX models with onnxruntime",
            value=settings.provider,
            hint="use provider cuda or tensorrt in a profile for a board reached through an agent",
        )
    if isinstance(offered, list) and wanted not in offered:
        raise ProviderUnavailableError(
            f"the agent at {agent.url} cannot run provider {settings.provider}: its onnxruntime "
            f"{info.get('runtime_version', '?')} offers {', '.join(map(str, offered)) or 'nothing'}",
            value=settings.provider,
            hint="install onnxruntime-gpu on the board, or choose a profile with provider cpu",
        )
    if settings.interleave:
        modes = info.get("interleave_modes", [1] if info.get("interleave") is True else [])
        if not isinstance(modes, list) or settings.interleave not in modes:
            raise AgentError(
                f"the agent at {agent.url} (hwsearch {info.get('hwsearch_version', '?')}) cannot time against a "
                f"drift reference in mode {settings.interleave}",
                value=agent.url,
                hint="install this hwsearch version on the board, or set 'interleave: false' in the profile",
            )
        from hwsearch.latency._agent import reference_identity

        model, label = drift_reference()
        if info.get("reference") != reference_identity(model, label):
            if limit is not None and len(model) > limit:
                raise AgentError(
                    f"the drift reference {label} is {len(model):,} bytes; the agent at {agent.url} accepts at most "
                    f"{limit}",
                    value=limit,
                    hint="restart the agent with a larger --max-bytes, or set 'interleave: false' in the profile",
                )
            agent.set_reference(model, label)
    return limit
