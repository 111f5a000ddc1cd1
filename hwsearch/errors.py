"""Exception types raised at hwsearch's public boundary.

Every error carries the offending value so that callers (and the CLI) can report
it in one line together with what would have been valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class HwsearchError(Exception):
    """Base class of every error hwsearch raises on purpose.

    ``value`` is the bad input; ``hint`` says what would have been valid.
    The string form is a single line suitable for the CLI.
    """

    def __init__(self, message: str, *, value: Any = None, hint: str | None = None) -> None:
        self.value = value
        self.hint = hint
        full = message if hint is None else f"{message} ({hint})"
        super().__init__(full.replace("\n", " "))


class ArchError(HwsearchError, ValueError):
    """An architecture has a field outside its allowed range."""


class ArchParseError(ArchError):
    """An architecture string could not be parsed; names the token and the whole string."""

    def __init__(self, message: str, *, token: str, text: str, hint: str | None = None) -> None:
        self.token = token
        self.text = text
        super().__init__(f"{message} in architecture string {text!r}", value=token, hint=hint)


class FileFieldError(HwsearchError, ValueError):
    """A named file is missing or malformed, or one of its keys has a value outside what is allowed."""

    def __init__(self, source: str, key: str, value: Any, allowed: str) -> None:
        self.source = source
        self.key = key
        super().__init__(f"{source}: {key}: {value!r} is not allowed", value=value, hint=allowed)


class SpaceError(FileFieldError):
    """A search-space file is missing, malformed, or has a field outside its allowed values."""


class DeviceError(FileFieldError):
    """A device profile is unknown, missing, malformed, or has a field outside its allowed values."""


class MeasurementError(HwsearchError):
    """A latency measurement cannot be made: bad settings, a missing provider, a failed run."""


class SettingsError(MeasurementError, ValueError):
    """Measurement settings have a field outside its allowed values."""


class InvalidModelError(MeasurementError, ValueError):
    """Bytes that are not an acceptable ONNX model (malformed, or pointing at external data)."""


class ProviderUnavailableError(MeasurementError):
    """The requested execution provider is not offered by the installed onnxruntime."""


class CacheError(HwsearchError):
    """The latency cache file cannot be read or written."""


class AgentError(HwsearchError):
    """A device agent refused a request, could not be reached, or cannot start."""


@contextmanager
def names_file(path: Path | str) -> Iterator[None]:
    """Re-raise an ``OSError`` from writing ``path`` with ``path`` as its filename.

    A failed write (a full disk, above all) raises with no filename, and the CLI's message
    would say only "a file".
    """
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
