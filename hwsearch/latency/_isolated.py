"""Each agent measurement in a child process with a memory limit and a wall-clock limit.

The agent's model screen (:func:`~hwsearch.latency._onnx_check.check_cnn_model`) bounds what
a model may ask for; this is the backstop for what a screen cannot foresee (and for
``--allow-any-model``). The child (from a fork server that has ONNX Runtime loaded, so one
costs milliseconds) caps its address space with ``RLIMIT_AS`` before it builds the session,
and the parent kills it when the time is up. Either breach is a :class:`ResourceLimitError`
naming the limit; the agent answers it and lives on. Standard library and the runtime only.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from dataclasses import dataclass
from typing import Any

from hwsearch.errors import InvalidModelError, MeasurementError, ProviderUnavailableError, SettingsError
from hwsearch.measurement import Measurement, MeasureSettings

DEFAULT_TIME_S = 300.0
_ERRORS: dict[str, type[MeasurementError] | type[Exception]] = {
    "InvalidModelError": InvalidModelError,
    "ProviderUnavailableError": ProviderUnavailableError,
    "SettingsError": SettingsError,
}


class ResourceLimitError(MeasurementError):
    """A measurement passed the agent's memory or time limit and was stopped."""


def default_memory_bytes() -> int:
    """Half of this machine's memory, at most 4 GiB: room for any CNN, not for a bomb."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        physical = 4 << 30
    return max(256 << 20, min(4 << 30, physical // 2))


def _child(conn: Any, body: bytes, settings: MeasureSettings, reference: tuple[bytes, str] | None,
           memory_bytes: int) -> None:  # fmt: skip
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        from hwsearch.latency._runtime import measure_onnx

        conn.send(("ok", measure_onnx(body, settings, reference).to_dict()))
    except MemoryError:
        conn.send(("memory", "the model needs more memory than the limit"))
    except Exception as exc:  # sent back whole: the parent decides what the client is told
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "memory" if "alloc" in text.lower() else type(exc).__name__
        conn.send((kind, text))


@dataclass(frozen=True)
class IsolatedMeasure:
    """``measure(body, settings, reference)`` in a fresh child, within ``memory_bytes`` and ``time_s``."""

    memory_bytes: int
    time_s: float = DEFAULT_TIME_S

    def __post_init__(self) -> None:
        if self.memory_bytes < 64 << 20 or not 0 < self.time_s <= 86_400:
            raise MeasurementError("limits out of range", value=(self.memory_bytes, self.time_s),
                                   hint="memory of at least 64 MiB, a time in (0, 86400] s")  # fmt: skip

    def __call__(self, body: bytes, settings: MeasureSettings,
                 reference: tuple[bytes, str] | None = None) -> Measurement:  # fmt: skip
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["hwsearch.latency._runtime"])
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(send, body, settings, reference, self.memory_bytes),
                                daemon=True)  # fmt: skip
        child.start()
        send.close()
        try:
            if not receive.poll(self.time_s):
                raise ResourceLimitError(f"the measurement passed the agent's time limit of {self.time_s:g} s and "
                                         f"was stopped", value=self.time_s)  # fmt: skip
            try:
                kind, payload = receive.recv()
            except EOFError:
                child.join(5)
                code = child.exitcode
                how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
                raise ResourceLimitError(f"the measurement process died ({how}), most likely out of memory",
                                         value=code) from None  # fmt: skip
        finally:
            if child.is_alive():
                child.kill()
            child.join(5)
            receive.close()
        if kind == "ok":
            return Measurement.from_dict(payload)
        if kind == "memory":
            limit = self.memory_bytes >> 20
            raise ResourceLimitError(f"the measurement passed the agent's memory limit of {limit} MiB: {payload}",
                                     value=limit)  # fmt: skip
        raise _ERRORS.get(kind, MeasurementError)(payload, value=kind)
