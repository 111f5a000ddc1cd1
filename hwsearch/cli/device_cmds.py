"""Commands about device profiles: ``devices``, ``profile`` (lookup table), ``calibrate``, ``validate``.

Heavy modules (onnxruntime, torch, matplotlib) are imported inside the command functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from hwsearch.cli.output import console
from hwsearch.devices import DEFAULT_DEVICE
from hwsearch.latency import DEFAULT_ANCHORS, TOKEN_ENV
from hwsearch.measurement import SOURCES
from hwsearch.paths import RESULTS_DIR
from hwsearch.space import DEFAULT_SPACE

if TYPE_CHECKING:
    from hwsearch.devices import DeviceProfile


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    devices = sub.add_parser("devices", help="list device profiles with their latency sources and calibration")
    devices.set_defaults(func=cmd_devices)

    profile = sub.add_parser("profile", help="build a device's per-layer latency lookup table (resumable)")
    _device_arguments(profile)
    profile.add_argument("--space", default=DEFAULT_SPACE, help=f"search space name or YAML (default {DEFAULT_SPACE})")
    profile.add_argument("--min-time-s", type=float, help="timing floor per entry (default: the profile's)")
    profile.add_argument("--anchors", type=int, default=DEFAULT_ANCHORS,
                         help=f"whole networks to fit the overhead on (default {DEFAULT_ANCHORS})")  # fmt: skip
    profile.add_argument("--limit", type=int, help="measure at most this many new entries, then stop")
    profile.add_argument("--out", type=Path, help="table file (default device_profiles/DEVICE.lut.csv)")
    profile.add_argument("--restart", action="store_true", help="delete the table and start again")
    profile.add_argument("--dry-run", action="store_true", help="only count the entries")
    profile.set_defaults(func=cmd_profile)

    calibrate = sub.add_parser("calibrate", help="fit a device's latency predictor, optionally to your measurements")
    calibrate.add_argument("--device", default=DEFAULT_DEVICE,
                           help=f"device profile, NAME or NAME:CONFIG (default {DEFAULT_DEVICE})")  # fmt: skip
    calibrate.add_argument("--points", type=Path, help="CSV: arch (or alpha,resolution), latency_ms[, source, ...]")
    calibrate.add_argument("--replace", action="store_true", help="drop your earlier points of this device first")
    calibrate.add_argument("--runtime", help="runtime of the points (default: the chosen CONFIG, else onnxruntime)")
    calibrate.add_argument("--threads", type=int, help="threads of the points (default: the profile's measurement)")
    calibrate.add_argument("--precision", choices=("fp32", "fp16", "int8"), help="precision of the points")
    calibrate.set_defaults(func=cmd_calibrate)

    validate = sub.add_parser("validate", help="predicted vs measured latency on sampled architectures")
    _device_arguments(validate)
    validate.add_argument("--space", default=DEFAULT_SPACE, help=f"search space (default {DEFAULT_SPACE})")
    validate.add_argument("--n", type=int, default=50, help="architectures to sample (default 50)")
    validate.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    validate.add_argument("--source", choices=[s for s in SOURCES if s != "measured"], help="estimate to check")
    validate.add_argument("--out", type=Path, help="output folder (default results/validate-DEVICE)")
    validate.add_argument("--cache", metavar="PATH", help="latency cache file for the measurements")
    validate.add_argument("--feed-back", action="store_true", help="add the measurements to the calibration points")
    validate.set_defaults(func=cmd_validate)


def _device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=DEFAULT_DEVICE,
                        help=f"device profile, NAME or NAME:CONFIG (default {DEFAULT_DEVICE})")  # fmt: skip
    parser.add_argument("--agent", metavar="URL", help=f"measure through the device agent at URL (token ${TOKEN_ENV})")


def _agent(args: argparse.Namespace, device: object) -> object | None:
    from hwsearch.latency import AgentClient

    url = args.agent or getattr(device, "agent_url", None)
    return AgentClient.from_env(url) if url else None


def _positive(name: str, value: float | None) -> None:
    from hwsearch.errors import HwsearchError

    if value is not None and not value > 0:
        raise HwsearchError(f"{name} = {value!r} is invalid", value=value, hint="a positive number")


# ----- devices ---------------------------------------------------------------------------


def cmd_devices(args: argparse.Namespace) -> int:
    from hwsearch.devices import available_devices, load_device
    from hwsearch.errors import HwsearchError

    table = Table(box=box.SIMPLE)
    table.add_column("device", no_wrap=True)
    for header in ("kind", "family", "latency sources (best first)", "predicts"):
        table.add_column(header)
    table.add_column("points: in config (published + measured)")
    table.add_column("expected error", no_wrap=True)
    for name in available_devices():
        try:
            device = load_device(name)
            # A profile with named configurations gets one row per configuration, each with its own error.
            chosen = [device.with_configuration(c) for c in device.configurations] or [device]
            for profile in chosen:
                table.add_row(*_device_row(profile))
        except HwsearchError as exc:
            table.add_row(name, "?", "?", f"[bold red]broken:[/bold red] {exc}", "", "", "")
    out = console()
    out.print(table)
    out.print(
        "measured: timed on the device; lut: sum of blocks timed in context + fitted overhead; "
        "predicted: few-shot model. "
        "Expected error: mean |error| cross-validated at the number of points (leave one configuration out), "
        "not the in-sample residual. Choose a configuration with --device NAME:CONFIG."
    )
    return 0


def _device_row(device: DeviceProfile) -> tuple[str, ...]:
    from hwsearch.latency import default_family, estimator_for, measured_points, target_config

    estimator = estimator_for(device)
    sources = (["measured (this machine)"] if device.kind == "local" else []) + (
        [f"measured (agent {device.agent_url})"] if device.agent_url else []
    )
    errors = []
    lut = estimator.lut
    if lut is not None:
        sources.append(f"lut ({len(lut.entries)} layers, {len(lut.overhead.residuals_pct)} anchors)")
        errors.append(f"lut ±{lut.overhead.expected_error_pct:.0f}%")
    predictor = estimator.predictor
    if predictor is not None:
        sources.append("predicted")
        n = len(predictor.points)
        errors.append(f"predicted ±{predictor.expected_error_pct:.0f}% ({n} point{'s' if n != 1 else ''})")
    if device.kind == "remote" and not device.agent_url:
        sources.append("measured: needs --agent URL")
    mine = measured_points(device)
    in_config = len(predictor.points) if predictor is not None else 0
    points = f"{in_config} ({len(device.calibration)} + {len(mine)})"
    return (
        device.label,
        device.kind,
        default_family(device),
        ", ".join(sources),
        target_config(device).label(),
        points,
        "; ".join(errors) or "-",
    )


# ----- profile ---------------------------------------------------------------------------


def cmd_profile(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from hwsearch.devices import load_device
    from hwsearch.latency import LayerTable, build_table, check_buildable, lut_path, plan_jobs
    from hwsearch.space import load_space

    _positive("--min-time-s", args.min_time_s)
    device = load_device(args.device)
    check_buildable(device.settings)
    space = load_space(args.space)
    out = console()
    agent = _agent(args, device)
    if agent is None and device.kind == "remote" and not args.dry_run:
        from hwsearch.errors import MeasurementError

        raise MeasurementError(
            f"device {device.name!r} is a remote board and no agent is given",
            value=device.name,
            hint="start 'hwsearch agent' on the board and pass --agent URL",
        )
    jobs = plan_jobs(space, args.anchors)
    layers = sum(job.key is not None and job.key.kind != "null" for job in jobs)
    references = sum(job.key is not None and job.key.kind == "null" for job in jobs)
    total = len(jobs)
    path = args.out or lut_path(device)
    out.print(
        f"space {space.name}: {layers} distinct blocks + {references} lead-ins + "
        f"{total - layers - references} anchor networks = {total} entries -> {path}"
    )
    if args.dry_run:
        return 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[entry]}"),
    )
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task(f"profiling {device.name}", total=total, entry="")

        def progress(done: int, count: int, entry: str) -> None:
            bar.update(task, completed=done, total=count, entry=entry)

        result = build_table(
            device,
            space,
            agent=agent,
            path=path,
            min_time_s=args.min_time_s,
            anchors=args.anchors,
            restart=args.restart,
            limit=args.limit,
            progress=progress,
            jobs=jobs,
        )
    out.print(
        f"{result.measured} entries measured in {result.seconds:.0f} s ({result.already} were already there); "
        f"{result.remaining} left"
    )
    if result.noisy:
        out.print(f"[yellow]{result.noisy} entries had CV above 5%: the device was busy; their medians still count[/]")
    table = LayerTable.load(result.path)
    fit = table.overhead
    out.print(
        f"overhead fit on {len(fit.residuals_pct)} anchors: network = {fit.a:.3f} x sum(layers) - {fit.phi:.3f} x "
        f"sum(boundaries) + {fit.c_ms:.3f} ms; residuals rms {fit.rms_pct:.1f}%, max {fit.max_pct:.1f}%"
    )
    return 0


# ----- calibrate -------------------------------------------------------------------------


def cmd_calibrate(args: argparse.Namespace) -> int:
    from hwsearch.devices import RuntimeSpec, load_device
    from hwsearch.latency import (
        RECIPE,
        device_loo,
        family_profiles,
        fit_predictor,
        loo_summary,
        point_label,
        read_points_csv,
        recipe_archs,
        write_measured_points,
    )

    device = load_device(args.device)
    out = console()
    if args.points is not None:
        # Points for a chosen configuration (NAME:CONFIG) are in it; otherwise as hwsearch measures.
        base = device.runtime_config if device.configuration else device.measurement_config
        threads = args.threads if args.threads is not None else base.threads
        default = RuntimeSpec(
            name=args.runtime or base.name, precision=args.precision or base.precision, threads=threads
        )
        points = read_points_csv(args.points, device, default=default)
        written = write_measured_points(device, points, replace=args.replace)
        out.print(f"{len(points)} points from {args.points} added to {written}")
    predictor = fit_predictor(device)
    out.print(f"[bold]{device.label}[/bold]: predicts {predictor.config.label()} ({predictor.basis()})")
    table = Table("point", "configuration", "latency ms", "predicted ms", "residual", "source", box=box.SIMPLE)
    for point, residual in zip(predictor.points, predictor.residuals_pct, strict=True):
        table.add_row(
            point_label(point),
            point.config.label(),
            f"{point.latency_ms:.3f}",
            f"{predictor.predict_ms(point.arch):.3f}",
            f"{residual:+.1f}%",
            point.source[:60],
        )
    out.print(table)
    out.print(
        f"in-sample residuals: rms {predictor.fit_residual_rms_pct:.1f}%, max {predictor.fit_residual_max_pct:.1f}% "
        "(how well the model passes through its own points)"
    )
    out.print(f"expected error of a prediction: {predictor.uncertainty}")
    out.print("parameters: " + ", ".join(f"{k} {v:.3g}" for k, v in predictor.parameters().items()))
    networks = {p.arch.to_str() for p in predictor.points}
    first = recipe_archs()[: len(networks)]
    if len(networks) <= len(RECIPE) and networks != {a.to_str() for a in first}:
        # The expected error is cross-validated with the recipe's points; say when these are others.
        out.print(f"note: these {len(networks)} networks are not the recipe's first {len(networks)} ("
                  + ", ".join(f"{a.alpha:g}-{a.resolution}" for a in first) + "), at which the expected error was "
                  "cross-validated; off the recipe a second point can predict worse than one "
                  "(benchmarks/predictor_robust.py)")  # fmt: skip
    if len(predictor.points) < len(RECIPE):
        nxt = next((a for a in recipe_archs() if a.to_str() not in networks), None)
        if nxt is not None:
            out.print(f"measure next: {nxt.alpha:g}-{nxt.resolution} (the README's recipe order: "
                      + ", ".join(f"{a:g}-{r}" for a, r in RECIPE[:4]) + ")")  # fmt: skip

    loo = [row for row in device_loo(device, family_profiles(device)) if row.view == "device"]
    if loo:
        mean, within, worst = loo_summary(loo)
        out.print(
            f"leave-one-out over its own {len(loo)} points: mean |error| {mean:.1f}%, within ±10% {within:.0%}, "
            f"worst {worst:.1f}%"
        )
    return 0


# ----- validate --------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hwsearch.devices import load_device
    from hwsearch.errors import HwsearchError, MeasurementError
    from hwsearch.latency import (
        LatencyCache,
        Point,
        ValidationRow,
        check_estimable,
        sample_archs,
        validate,
        write_measured_points,
        write_rows,
    )
    from hwsearch.report.latency_plots import plot_validation
    from hwsearch.space import load_space

    if args.n < 1:
        raise HwsearchError(f"--n = {args.n} is invalid", value=args.n, hint="at least 1")
    device = load_device(args.device)
    space = load_space(args.space)
    agent = _agent(args, device)
    if agent is None and device.kind == "remote":
        raise MeasurementError(
            f"device {device.name!r} is a remote board and no agent is given",
            value=device.name,
            hint="start 'hwsearch agent' on the board and pass --agent URL",
        )
    source = check_estimable(device, args.source)
    archs = sample_archs(space, args.n, args.seed)
    out = console()
    out.print(f"validating {source} latency of {device.name} on {len(archs)} architectures of {space.name}")
    columns = (
        TextColumn("measuring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=out) as bar:
        task = bar.add_task("validate", total=len(archs), last="")

        def progress(done: int, count: int, row: ValidationRow) -> None:
            last = f"{row.measured.latency_ms:.2f} ms measured, {row.error_pct:+.1f}%"
            bar.update(task, completed=done, last=last)

        result = validate(device, archs, source=source, agent=agent, cache=LatencyCache(args.cache), progress=progress)
    folder = args.out or RESULTS_DIR / f"validate-{device.name}"
    csv_path = write_rows(result, folder / "validation.csv")
    title = result.title(space.name)
    png = plot_validation(
        [r.measured.latency_ms for r in result.rows],
        [r.predicted.median_ms for r in result.rows],
        folder / "validation.png",
        title=title,
        source=result.source,
    )
    out.print(
        f"within ±10%: {result.within():.1%} ({sum(abs(r.error_pct) <= 10 for r in result.rows)} of {len(result.rows)})"
    )
    out.print(f"mean absolute percentage error: {result.mape:.1f}%")
    out.print(f"Spearman rank correlation: {result.spearman:.3f}")
    if result.noisy:
        out.print(f"[yellow]{result.noisy} measurements had CV above 5%: the device was busy[/]")
    out.print(f"wrote {csv_path} and {png}")
    if args.feed_back:
        config = device.measurement_config
        points = [
            Point(
                device.name,
                r.arch,
                r.measured.latency_ms,
                config,
                f"hwsearch validate on {r.measured.host}",
                "measured",
                r.measured.timestamp,
            )
            for r in result.rows
        ]
        path = write_measured_points(device, points)
        out.print(f"{len(points)} measurements added to {path}; the predictor now fits {config.label()}")
    return 0
