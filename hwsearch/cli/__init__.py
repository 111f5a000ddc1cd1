"""Command-line interface: ``hwsearch <command> ...``.

This package only wires the library together. Every command module registers its
sub-commands through ``register(subparsers)``; :func:`main` turns every expected
failure into one line on stderr and a non-zero exit, with a traceback only under
``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from typing import NoReturn

from hwsearch import __version__
from hwsearch.cli import arch_cmds, compare_cmds, device_cmds, latency_cmds, proxy_cmds, search_cmds, train_cmds
from hwsearch.cli.output import EXIT_INTERRUPTED
from hwsearch.errors import HwsearchError

EXIT_ERROR = 2
COMMAND_MODULES = (arch_cmds, latency_cmds, device_cmds, proxy_cmds, search_cmds, train_cmds, compare_cmds)


class UsageError(HwsearchError):
    """A command line that does not parse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module's sub-commands."""
    parser = _Parser(prog="hwsearch", description="Hardware-aware architecture search for MobileNet-style CNNs.")
    parser.add_argument("--version", action="version", version=f"hwsearch {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _describe_os_error(exc: OSError) -> str:
    what = exc.filename if exc.filename is not None else "a file"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing {what}; free some space and run the command again"
    reason = exc.strerror or str(exc)
    return f"cannot access {what}: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = build_parser().parse_args(args_list)
        return int(args.func(args) or 0)
    except HwsearchError as exc:
        if debug:
            raise
        print(f"hwsearch: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        if debug:
            raise
        print(f"hwsearch: error: {_describe_os_error(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hwsearch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
