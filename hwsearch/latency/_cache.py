"""A latency cache in one SQLite file, so that no candidate is measured twice.

The key is the canonical architecture string, the device identity (the profile name,
plus the agent URL when a local profile is sent to an agent) and the digest of the
measurement settings; the value is the :class:`Measurement` as JSON. Reading never
builds a model or an onnxruntime session.

The file uses SQLite's write-ahead log and a busy timeout, so several processes (a
search with parallel workers, a second terminal) may read and write it at once. Each
operation opens its own connection: nothing is shared across threads or forks.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from hwsearch.errors import CacheError, HwsearchError
from hwsearch.measurement import Measurement, utc_now
from hwsearch.paths import RESULTS_DIR

CACHE_ENV = "HWSEARCH_LATENCY_CACHE"
DEFAULT_CACHE = RESULTS_DIR / "latency_cache.sqlite"
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 30.0
LONG_RUN = 200  # sessions of the drift reference its long-run median is taken over


def default_cache_path() -> Path:
    """``$HWSEARCH_LATENCY_CACHE`` if set, else ``results/latency_cache.sqlite`` under the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


@dataclass(frozen=True)
class CacheKey:
    """What identifies one latency: architecture, device identity, settings digest."""

    arch: str
    device: str
    settings_digest: str


class LatencyCache:
    """Measurements keyed by :class:`CacheKey` in the SQLite file at ``path``.

    ``hits`` and ``misses`` count this instance's look-ups.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.hits = 0
        self.misses = 0
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)) as conn:
                if not self._ready:
                    self._create(conn)
                    self._ready = True
                with conn:  # one transaction per operation
                    yield conn
        except sqlite3.Error as exc:
            raise CacheError(
                f"latency cache {self.path}: {exc}",
                value=str(self.path),
                hint=f"delete the file or point --cache / ${CACHE_ENV} elsewhere",
            ) from None

    def _create(self, conn: sqlite3.Connection) -> None:
        # WAL lets readers and one writer work concurrently across processes.
        conn.execute("PRAGMA journal_mode=WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise CacheError(
                f"latency cache {self.path} has schema version {version}, this hwsearch reads {_SCHEMA_VERSION}",
                value=version,
                hint="use a new cache file",
            )
        with conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS latency ("
                " arch TEXT NOT NULL, device TEXT NOT NULL, settings_digest TEXT NOT NULL,"
                " measurement TEXT NOT NULL, stored_at TEXT NOT NULL,"
                " PRIMARY KEY (arch, device, settings_digest))"
            )
            # Every session's median of the drift reference: their median is its long-run latency.
            conn.execute(
                "CREATE TABLE IF NOT EXISTS reference_medians ("
                " device TEXT NOT NULL, settings_digest TEXT NOT NULL, reference TEXT NOT NULL,"
                " median_ms REAL NOT NULL, stored_at TEXT NOT NULL)"
            )
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def get(self, key: CacheKey) -> Measurement | None:
        """The cached measurement for ``key``, or None. An unreadable entry counts as missing."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT measurement FROM latency WHERE arch = ? AND device = ? AND settings_digest = ?",
                (key.arch, key.device, key.settings_digest),
            ).fetchone()
        found = None
        if row is not None:
            try:
                found = Measurement.from_json(row[0])
            except HwsearchError:
                found = None  # written by an incompatible version; measuring again overwrites it
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: CacheKey, measurement: Measurement) -> None:
        """Store ``measurement`` under ``key``, replacing any earlier one."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO latency (arch, device, settings_digest, measurement, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key.arch, key.device, key.settings_digest, measurement.to_json(), utc_now()),
            )

    def log_reference(self, key: CacheKey, reference: str, median_ms: float) -> float:
        """Record one session's median of the drift ``reference`` on ``key``'s device and settings;
        returns the reference's long-run median there (over the last :data:`LONG_RUN` sessions)."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO reference_medians (device, settings_digest, reference, median_ms, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key.device, key.settings_digest, reference, float(median_ms), utc_now()),
            )
            rows = conn.execute(
                "SELECT median_ms FROM reference_medians WHERE device = ? AND settings_digest = ? AND reference = ?"
                " ORDER BY rowid DESC LIMIT ?",
                (key.device, key.settings_digest, reference, LONG_RUN),
            ).fetchall()
        return statistics.median(r[0] for r in rows)

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM latency").fetchone()[0])
