"""A run folder's own SQLite study: one owner at a time, and recovery after an early stop.

* :func:`lock_run_folder` takes an advisory lock (``run.lock``, ``flock``) for as long as
  the process runs, so a second ``run`` or ``--resume`` on a live folder refuses instead
  of failing the live run's trial. The kernel drops the lock when the process dies, even
  by ``kill -9``: a stale lock file never blocks a resume.
* :func:`recover_journal` rolls back a rollback journal left by a process killed while
  writing, before anything opens the study read-only (which cannot).
* :func:`holds_nothing` tells a database that a stop left before any trial was stored:
  replacing it loses nothing.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from hwsearch.search.config import RunError

LOCK_FILE = "run.lock"


@dataclass
class RunLock:
    """The held lock of one run folder; released by :meth:`release` or when the process ends."""

    path: Path
    fd: int | None

    def release(self) -> None:
        """Give the folder up (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:
        self.release()  # a session dropped without close() must not keep its folder


def lock_run_folder(out_dir: Path) -> RunLock:
    """Take ``out_dir``'s lock, or raise :class:`RunError` naming the process that holds it."""
    import fcntl

    path = out_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunError(
            f"{out_dir} is in use by a running hwsearch ({holder})",
            value=str(out_dir),
            hint="wait for it to end or stop it, then --resume; or choose another --out",
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}\n".encode())
    return RunLock(path, fd)


def recover_journal(db: Path) -> None:
    """Roll back a hot journal beside ``db`` (a writer killed mid-transaction) by opening it read-write once."""
    if not Path(f"{db}-journal").exists() or not db.is_file():
        return
    try:
        with closing(sqlite3.connect(db)) as con:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the first read rolls the journal back
    except sqlite3.DatabaseError:
        pass  # left to the caller's check, which names the damage


def read_only(db: Path) -> closing[sqlite3.Connection]:
    """A read-only connection to ``db``, once a hot journal beside it is rolled back (read-only cannot)."""
    recover_journal(db)
    return closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True))


def table_names(con: sqlite3.Connection) -> set[str]:
    """The tables of the database behind ``con``."""
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def holds_nothing(db: Path) -> bool:
    """True when ``db`` is empty, or a database without Optuna's tables or without one trial."""
    if not db.is_file():
        return False
    if db.stat().st_size == 0:
        return True
    try:
        with read_only(db) as con:
            tables = table_names(con)
            if not tables:
                return True
            if not {"studies", "trials"} <= tables:
                return False  # some other database: not ours to replace
            return con.execute("SELECT count(*) FROM trials").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False
