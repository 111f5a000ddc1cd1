"""Calibration points: whole-network latencies that fit a device's predictor.

Two kinds exist. *Published* points are written in the profile YAML with their citation
(``calibration:``). *Measured* points are the user's own: ``hwsearch calibrate --points``
and ``hwsearch validate --feed-back`` append them to ``device_profiles/NAME.points.csv``
next to the profile, so the curated YAML is never rewritten.

A profile predicts one runtime configuration (software, precision, threads): the one
chosen with ``NAME:CONFIG``; else the configuration of the user's measurements once there
are any; else the profile's first configuration (or its ``runtime``). Only points in that
configuration calibrate the device itself; the others still inform the family prior (see
:mod:`hwsearch.latency._predictor`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.devices import CalibrationPoint, DeviceProfile, RuntimeSpec
from hwsearch.errors import ArchError, DeviceError
from hwsearch.measurement import utc_now

POINTS_SUFFIX = ".points.csv"
POINT_COLUMNS = ("arch", "latency_ms", "runtime", "threads", "precision", "source", "measured_at")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Point:
    """One whole-network latency on one device, in one runtime configuration."""

    device: str
    arch: Arch
    latency_ms: float
    config: RuntimeSpec
    source: str
    origin: str  # "published" (profile YAML) or "measured" (the user's points file)
    measured_at: str = ""


def published_points(profile: DeviceProfile) -> list[Point]:
    """The profile's ``calibration`` entries, with citations resolved and configurations filled in."""
    return [
        Point(profile.name, point_arch(p), p.latency_ms, profile.point_config(p), profile.citation(p), "published")
        for p in profile.calibration
    ]


def point_arch(point: CalibrationPoint) -> Arch:
    """The network of a calibration point: its ``arch`` string, or the paper's MobileNet at alpha/resolution."""
    if point.arch is not None:
        return Arch.from_str(point.arch)
    assert point.alpha is not None and point.resolution is not None  # checked by the schema
    return mobilenet_v1(point.alpha, point.resolution)


def points_path(profile: DeviceProfile) -> Path | None:
    """Where the user's measured points of ``profile`` live (None for a profile not read from a file)."""
    return profile.sidecar(POINTS_SUFFIX)


def measured_points(profile: DeviceProfile) -> list[Point]:
    """The user's measured points of ``profile`` (empty when there is no points file)."""
    path = points_path(profile)
    if path is None or not path.is_file():
        return []
    return read_points_csv(path, profile, default=profile.measurement_config, origin="measured")


def target_config(profile: DeviceProfile) -> RuntimeSpec:
    """The configuration ``profile`` predicts: the one chosen with ``NAME:CONFIG``, else that of
    the user's measurements if any, else the profile's default (first configuration or ``runtime``)."""
    if profile.configuration is not None:
        return profile.runtime_config
    mine = measured_points(profile)
    return mine[-1].config if mine else profile.runtime_config


def direct_points(profile: DeviceProfile) -> list[Point]:
    """Points that calibrate the device itself: published and measured, in :func:`target_config`."""
    config = target_config(profile)
    return [p for p in published_points(profile) + measured_points(profile) if p.config == config]


def read_points_csv(
    path: Path, profile: DeviceProfile, *, default: RuntimeSpec, origin: str = "measured"
) -> list[Point]:
    """Read points from a CSV file: ``arch`` or ``alpha``+``resolution``, ``latency_ms``, optional
    ``runtime``, ``threads``, ``precision``, ``source`` (missing ones come from ``default``).

    Lines starting with ``#`` are comments. Every bad cell is a :class:`DeviceError` naming
    the file, the row and the column.
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceError(where, "<file>", where, f"a readable UTF-8 CSV file ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    columns = set(reader.fieldnames or ())
    if "latency_ms" not in columns or not ("arch" in columns or {"alpha", "resolution"} <= columns):
        raise DeviceError(where, "<header>", sorted(columns), "columns latency_ms and arch (or alpha and resolution)")
    points = []
    for row_number, row in enumerate(reader, start=2):
        points.append(_row_point(row, (where, f"row {row_number}"), profile, default, origin))
    if not points:
        raise DeviceError(where, "<file>", "no rows", "at least one point")
    return points


def _row_point(
    row: dict[str, str | None], location: tuple[str, str], profile: DeviceProfile, default: RuntimeSpec, origin: str
) -> Point:
    where, row_key = location

    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    try:
        if cell("arch"):
            arch = Arch.from_str(cell("arch"))
        else:
            arch = mobilenet_v1(float(cell("alpha")), int(cell("resolution")))
    except (ArchError, ValueError) as exc:
        shown = cell("arch") or f"alpha {cell('alpha')!r}, resolution {cell('resolution')!r}"
        raise DeviceError(where, f"{row_key}.arch", shown, str(exc)) from None
    latency = _number(cell("latency_ms"), where, f"{row_key}.latency_ms")
    precision = cell("precision") or default.precision
    if precision not in PRECISIONS:
        raise DeviceError(where, f"{row_key}.precision", precision, f"one of {', '.join(PRECISIONS)}")
    threads_text = cell("threads")
    threads = default.threads
    if threads_text:
        if not threads_text.isdigit() or int(threads_text) < 1:
            raise DeviceError(where, f"{row_key}.threads", threads_text, "a whole number >= 1, or empty")
        threads = int(threads_text)
    config = RuntimeSpec(name=cell("runtime") or default.name, precision=precision, threads=threads)
    source = cell("source") or f"measured by the user ({Path(where).name})"
    return Point(profile.name, arch, latency, config, source, origin, cell("measured_at") or utc_now())


def _number(text: str, where: str, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise DeviceError(where, key, text, "a positive number of milliseconds")
    return value


def write_measured_points(profile: DeviceProfile, points: list[Point], *, replace: bool = False) -> Path:
    """Add ``points`` to the profile's points file (or replace its contents); returns the path.

    A point for an architecture already in the file, in the same configuration, replaces
    the old figure. All points in the file must share one configuration: it is the one the
    profile then predicts.
    """
    path = points_path(profile)
    if path is None:
        raise DeviceError(profile.source, "<file>", profile.name, "a profile read from a file, to write points beside")
    kept = [] if replace else measured_points(profile)
    configs = {p.config for p in kept} | {p.config for p in points}
    if len(configs) > 1:
        labels = ", ".join(sorted(c.label() for c in configs))
        raise DeviceError(
            str(path), "runtime", labels, "one configuration per device; pass --replace to start over with the new one"
        )
    new_keys = {p.arch.to_str() for p in points}
    rows = [p for p in kept if p.arch.to_str() not in new_keys] + list(points)
    out = io.StringIO()
    out.write(f"# hwsearch calibration points of device {profile.name}: whole-network latencies the user measured\n")

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(POINT_COLUMNS)
    for p in rows:
        threads = "" if p.config.threads is None else p.config.threads
        stamp = p.measured_at or utc_now()
        writer.writerow(
            [p.arch.to_str(), f"{p.latency_ms:.6g}", p.config.name, threads, p.config.precision, p.source, stamp]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return path
