"""A run's report written from its session, with the report's own settings (``hwsearch report``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hwsearch.proxy.limits import proxy_limits
from hwsearch.report.choices import DEFAULT_WITHIN_PCT

if TYPE_CHECKING:
    from hwsearch.search.session import Session


def run_meta(session: Session) -> dict[str, str]:
    """The settings a report lists first: device, space, sampler, seed, proxy and study."""
    config = session.config
    return {"device": config.device, "space": config.space, "sampler": config.sampler, "seed": str(config.seed),
            "proxy": f"budget '{config.budget}' on {config.dataset}", "study": session.study.study_name}  # fmt: skip


def write_report(session: Session, out_dir: Path, *,
                 within_pct: float = DEFAULT_WITHIN_PCT) -> tuple[list[Path], list[str]]:  # fmt: skip
    """Trials table, plots and reports of ``session``'s study into ``out_dir``.

    Returns the files written and the suggested networks as markdown list items (the front's
    knee, and the fastest network within ``within_pct`` accuracy points of the best).
    """
    from hwsearch.report.picks import suggestion_lines  # matplotlib and the report load only when one is written
    from hwsearch.report.run_report import write_run_report
    from hwsearch.report.summary import summarise

    config = session.config
    frame = session.frame()
    outputs = write_run_report(frame, out_dir, device=Path(config.device).stem, explore_budget=config.budget,
                               meta=run_meta(session), limits=proxy_limits(config.dataset), dataset=config.dataset,
                               within_pct=within_pct, trainings=session.trainings())  # fmt: skip
    suggestions = suggestion_lines(summarise(frame, config.budget, within_pct=within_pct))
    return [p for p in vars(outputs).values() if p is not None], suggestions
