"""Where the CLI writes: a rich console on the current stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from hwsearch.errors import names_file

# The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
# Wide enough for the per-layer tables when output goes to a file or a pipe.
_PIPE_WIDTH = 160


def console() -> Console:
    """A console on the *current* ``sys.stdout`` (so redirection and test capture work)."""
    tty = sys.stdout.isatty()
    # Into a file or a pipe, a line stays one line (an architecture string is not split); only
    # tables take the fixed width.
    return Console(file=sys.stdout, width=None if tty else _PIPE_WIDTH, highlight=False, soft_wrap=not tty)


def write_text(path: Path, text: str) -> None:
    """``path.write_text`` whose errors name the file (a failed write, e.g. a full disk, does not)."""
    with names_file(path):
        path.write_text(text, encoding="utf-8")
