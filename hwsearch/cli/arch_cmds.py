"""Commands about architectures and their cost: ``space show``, ``cost``, ``paper-tables``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich import box
from rich.table import Table

from hwsearch.arch import CHANNEL_RULES, Arch, mobilenet_v1
from hwsearch.cli.output import console
from hwsearch.cost import count_cost
from hwsearch.errors import ArchError
from hwsearch.paper import SOURCE, paper_figures
from hwsearch.space import DEFAULT_SPACE, load_space


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    space = sub.add_parser("space", help="inspect search spaces")
    space_sub = space.add_subparsers(dest="space_command", metavar="ACTION", required=True)
    show = space_sub.add_parser("show", help="print a search space's decisions and rules")
    show.add_argument("space", nargs="?", default=DEFAULT_SPACE, help="space name or YAML path")
    show.set_defaults(func=cmd_space_show)

    cost = sub.add_parser("cost", help="per-layer Mult-Adds and parameters of an architecture")
    add_arch_arguments(cost)
    cost.set_defaults(func=cmd_cost)

    tables = sub.add_parser("paper-tables", help="the MobileNet paper's Tables 2-7 beside our counts")
    tables.set_defaults(func=cmd_paper_tables)


def add_arch_arguments(parser: argparse.ArgumentParser) -> None:
    """``ARCH`` (string or .json file) or ``--alpha/--resolution`` for the paper's MobileNet."""
    parser.add_argument("arch", nargs="?", help="canonical architecture string, or an arch.json file")
    parser.add_argument("--alpha", type=float, help="width multiplier of the paper's MobileNet")
    parser.add_argument("--resolution", type=int, help="input resolution of the paper's MobileNet, in pixels")
    parser.add_argument("--rule", choices=CHANNEL_RULES, default="floor8", help="channel rule with --alpha")


def arch_from_args(args: argparse.Namespace) -> Arch:
    """The architecture named on the command line."""
    if args.arch is not None:
        if args.alpha is not None or args.resolution is not None:
            raise ArchError("give either ARCH or --alpha/--resolution, not both", value=args.arch)
        if args.arch.endswith(".json"):
            return Arch.from_json(Path(args.arch).read_text(encoding="utf-8"))
        return Arch.from_str(args.arch)
    if args.alpha is None and args.resolution is None:
        raise ArchError("no architecture given", hint="pass an ARCH string or --alpha A --resolution R")
    alpha = 1.0 if args.alpha is None else args.alpha
    resolution = 224 if args.resolution is None else args.resolution
    return mobilenet_v1(alpha, resolution, channel_rule=args.rule)


def cmd_space_show(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    out = console()
    out.print(f"[bold]{space.name}[/bold]  ({space.source})")
    if space.description:
        out.print(space.description)
    table = Table("decision", "options", box=box.SIMPLE)
    for name, options in space.choices().items():
        shown = [f"{o} (rho {o / space.base_resolution:.3f})" for o in options] if name == "resolution" else options
        table.add_row(name, ", ".join(map(str, shown)))
    out.print(table)
    rules = space.rules
    out.print(f"channel rule: {space.channel_rule}; stem: {space.stem.channels} channels")
    out.print(
        f"rules: total stride in [{rules.total_stride.min}, {rules.total_stride.max}], "
        f"final feature map >= {rules.min_final_size}x{rules.min_final_size}"
    )
    out.print(f"{space.size():,} combinations of decisions")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    arch = arch_from_args(args)
    cost = count_cost(arch)
    out = console()
    out.print(arch.to_str())
    table = Table("layer", "kind", "input", "output", "MACs", "params", box=box.SIMPLE)
    for row in cost.layers:
        layer = row.layer
        table.add_row(
            layer.name,
            layer.kind,
            f"{layer.in_size}x{layer.in_size}x{layer.in_channels}",
            f"{layer.out_size}x{layer.out_size}x{layer.out_channels}",
            f"{row.macs:,}",
            f"{row.params:,}",
        )
    out.print(table)
    out.print(f"total: {cost.macs / 1e6:.1f}M MACs ({cost.macs:,}), {cost.params / 1e6:.2f}M params ({cost.params:,})")
    return 0


def cmd_paper_tables(args: argparse.Namespace) -> int:
    figures = paper_figures()
    table = Table("table", "item", "unit", "paper", "ours", "diff %", "agrees", "note", box=box.SIMPLE)
    for fig in figures:
        ours = f"{fig.ours:,.0f}" if fig.paper_value >= 1e5 else f"{fig.ours:.4g}"
        mark = "yes" if fig.agrees else "[bold red]no[/bold red]"
        table.add_row(fig.table, fig.item, fig.unit, fig.paper, ours, f"{fig.diff_pct:+.2f}", mark, fig.note)
    out = console()
    out.print(table)
    agreed = sum(f.agrees for f in figures)
    out.print(f"{agreed} of {len(figures)} figures agree within 0.5% or at the paper's printed precision.")
    out.print(f"Sources: {SOURCE}")
    return 0
