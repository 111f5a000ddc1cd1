"""What the long commands put on the console: hwsearch's own lines first, none of Optuna's
INFO lines, and a progress bar (plain lines with counts and ETA into a file or a pipe)."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil

import pytest

from hwsearch.cli import main
from tests._search_support import world, write_stripes

# Environment that makes rich treat any output as a terminal, or none as one.
RICH_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
# Sixteen trainings of a few batches each: the console is under test, not the proxy.
SMALLEST_BUDGET = "quick:epochs=1,train_images=16,base_resolution=8,batch_size=16"


class Records(logging.Handler):
    """Every record that reaches Optuna's library logger, hence its console handler."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records]


@contextlib.contextmanager
def optuna_records():
    handler = Records()
    logger = logging.getLogger("optuna")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def plain_output(monkeypatch):
    for name in RICH_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    """A one-trial run, with what it printed and what Optuna logged."""
    tmp = tmp_path_factory.mktemp("console")
    w = world(tmp)
    out = tmp / "run"
    argv = ["run", "--device", w["device"], "--space", w["space"], "--budget", w["budget"], "--rungs", "none",
            "--confirm-seeds", "1", "--dataset", w["dataset"], "--out", str(out), "--sampler", "random",
            "--no-baselines", "--trials", "1"]  # fmt: skip
    printed, errors = io.StringIO(), io.StringIO()
    with optuna_records() as logged, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        assert main(argv) == 0
    return out, printed.getvalue(), errors.getvalue(), logged.lines()


def test_run_prints_its_header_first_and_no_optuna_info_line(quiet_run):
    out, printed, errors, logged = quiet_run
    assert printed.splitlines()[0].startswith(f"run {out}: 1 trials on ")
    assert re.match(r"#0 +\d", printed.splitlines()[1])  # the first trial's line follows the header at once
    assert errors == "" and logged == []
    assert "A new study created" not in printed + errors


def test_resume_worker_report_and_export_print_no_optuna_line(quiet_run, tmp_path, capsys):
    run, *_ = quiet_run
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(run / "study.db", copy / "study.db")  # the run's folder stays as the other test saw it
    commands = [
        (["run", "--resume", "--out", str(copy), "--trials", "2"], f"run {copy}: 2 trials on "),
        (["worker", "--storage", f"sqlite:///{copy / 'study.db'}", "--trials", "1"], "worker on study 'hwsearch'"),
        (["report", str(copy)], "wrote "),
        (["export", str(copy), "--best", "--out", str(tmp_path / "exp")], "trial "),
    ]
    for argv, first in commands:
        with optuna_records() as logged:
            assert main(argv) == 0, argv
        captured = capsys.readouterr()
        assert captured.out.startswith(first), (argv, captured.out[:200])
        assert captured.err == "" and logged.lines() == [], argv


def test_optuna_warnings_still_show_but_not_its_reports_of_failed_trials():
    import optuna

    from hwsearch.search.loop import run_trials

    def broken(_trial):
        raise ValueError("broken objective")

    with optuna_records() as logged:
        # Optuna would report the failure with its traceback; the exception itself reaches the caller.
        with pytest.raises(ValueError, match="broken objective"):
            run_trials(optuna.create_study(directions=["maximize"] * 2), broken, target=None, n_trials=1,
                       timeout_min=None)  # fmt: skip
        study = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [0]}), directions=["maximize"] * 2)
        for _ in range(2):  # the second pass finds the grid exhausted: a warning worth seeing
            run_trials(study, lambda t: (t.suggest_int("x", 0, 0), 0.0), target=None, n_trials=1, timeout_min=None)
    assert len(logged.records) == 1, logged.lines()
    record = logged.records[0]
    assert record.levelno == logging.WARNING and "grid has been exhausted" in record.getMessage()


def test_reproduce_into_a_pipe_prints_a_counted_line_per_network_and_no_control_codes(tmp_path, capsys):
    images = write_stripes(tmp_path / "images")
    code = main(["reproduce", "--budget", SMALLEST_BUDGET, "--dataset", f"imagefolder:{images}", "--out",
                 str(tmp_path / "out"), "--grid-only"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "\x1b" not in out and "\r" not in out  # no cursor or colour codes in a file
    counted = re.findall(r"^\[ ?(\d+)/16 (\d+:\d\d:\d\d) eta (\d+:\d\d:\d\d)\] +\d+\.\d\d% ", out, re.MULTILINE)
    assert [int(done) for done, _, _ in counted] == list(range(1, 17))
    assert counted[-1][2] == "0:00:00"  # nothing left once the 16th is done
    assert "\n\n" not in out  # no blank line where a bar would have been


def test_on_a_terminal_the_bar_is_drawn_and_lines_keep_the_short_count(monkeypatch):
    from hwsearch.cli.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("TERM", "xterm-256color")
    with progress_bar("grid", 16) as bar:
        assert bar.drawn
        bar.update(3)
        bar.print("a network's line")
    drawn = screen.getvalue()
    assert "a network's line" in drawn and "\x1b[" in drawn
    assert re.search(r"grid .* 3/16", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn))
