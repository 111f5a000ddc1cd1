"""The bad-input matrix: every row is a real CLI invocation that must fail in one clear line.

Each row asserts a non-zero exit, exactly one line on stderr naming the bad value, and no
traceback. Agents are real HTTP servers on 127.0.0.1; databases are real SQLite files.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from hwsearch.arch import mobilenet_v1
from hwsearch.cli import main
from hwsearch.export import export_onnx
from tests._latency_support import running_agent
from tests._search_support import world

BAD_SPACE_FIELD = """\
name: bad
alpah: [0.5, 1.0]
stages:
  - {channels: 64, depth: 1, stride: 1}
"""

IMPOSSIBLE_RANGE = """\
name: impossible
alpha: [0.5, 1.0]
stages:
  - {channels: 64, depth: {min: 4, max: 2}, stride: 1}
"""


# Nine levels of nine aliases: 9^9 strings once expanded (the "billion laughs").
ALIAS_BOMB = (
    "name: bomb\na: &a ["
    + ",".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Files, run folders and agents that the rows point at."""
    tmp = tmp_path_factory.mktemp("errors")
    w = world(tmp)
    (tmp / "bad_field.yaml").write_text(BAD_SPACE_FIELD)
    (tmp / "impossible.yaml").write_text(IMPOSSIBLE_RANGE)
    (tmp / "model.onnx").write_bytes(export_onnx(mobilenet_v1(0.25, 32)))
    (tmp / "notes.txt").write_text("these are not the bytes of an ONNX model\n")
    (tmp / "a-file").write_text("a file where a folder should be\n")
    (tmp / "bomb.yaml").write_text(ALIAS_BOMB)
    stage = "stages:\n  - {channels: 64, depth: 1, stride: 1}\n"
    (tmp / "inf.yaml").write_text("name: inf\nalpha: {min: 0.1, max: .inf}\nresolution: [32]\n" + stage)
    (tmp / "wide.yaml").write_text(
        "name: wide\nalpha: [0.5]\nresolution: [32]\nstages:\n  - {channels: 1000000000, depth: 1, stride: 1}\n"
    )
    (tmp / "bigint.yaml").write_text("name: bigint\nkind: local\nmeasurement: {threads: " + "9" * 5000 + "}\n")
    (tmp / "deep.json").write_text('{"alpha": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (tmp / "huge.json").write_text('{"alpha": ' + "9" * 5000 + "}")
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "study.db").write_bytes(b"\x00garbage, not SQLite\n" * 64)
    foreign = tmp / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "study.db") as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    zeroed = tmp / "zeroed"
    zeroed.mkdir()
    study = optuna.create_study(storage=f"sqlite:///{zeroed / 'study.db'}", study_name="hwsearch")
    for i in range(40):
        trial = study.ask()
        trial.set_user_attr("blob", "x" * 300)
        study.tell(trial, float(i))
    with (zeroed / "study.db").open("r+b") as handle:  # a torn write: one page of zeros mid-file
        handle.seek(4096 * 6)
        handle.write(b"\0" * 4096)
    (tmp / "deep.yaml").write_text("name: deep\nkind: local\nmeasurement: " + "[" * 200 + "]" * 200 + "\n")
    empty_run = tmp / "empty-run"
    empty_run.mkdir()
    (empty_run / "study.db").write_bytes(b"")  # a kill right after the file appeared
    plain_optuna = tmp / "plain-optuna"
    plain_optuna.mkdir()
    optuna.create_study(storage=f"sqlite:///{plain_optuna / 'study.db'}", study_name="hwsearch")
    with (
        running_agent(token="right-token") as guarded,
        running_agent(max_bytes=1000) as small,
        running_agent() as plain,
    ):
        yield {
            **w,
            "tmp": tmp,
            "guarded": guarded.url,
            "small": small.url,
            "plain": plain.url,
            "closed": f"http://127.0.0.1:{_closed_port()}",
            "closed_pg": f"postgresql://nobody@127.0.0.1:{_closed_port()}/x",
        }


def _tiny_run(e, *extra):
    return [
        "run",
        "--device",
        e["device"],
        "--space",
        e["space"],
        "--dataset",
        e["dataset"],
        "--budget",
        e["budget"],
        "--no-baselines",
        *extra,
    ]


ROWS = {
    # name: env -> (argv, what the one line must name)
    "unknown device": lambda e: (["run", "--device", "jetson-nanoo"], ["'jetson-nanoo'", "jetson-nano,"]),
    "space with a bad field": lambda e: (["run", "--space", str(e["tmp"] / "bad_field.yaml")], ["alpah"]),
    "space with an impossible range": lambda e: (["run", "--space", str(e["tmp"] / "impossible.yaml")], ["min"]),
    "malformed arch string": lambda e: (
        ["cost", "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_dz64x1s1"],
        ["'dz64x1s1'"],
    ),
    "malformed arch in latency": lambda e: (["latency", "mbv1_a1.0_r2x4"], ["'r2x4'"]),
    "missing data set": lambda e: (
        _tiny_run(e, "--dataset", "cifar10", "--data-dir", str(e["tmp"] / "nowhere")),
        ["cifar10", "nowhere"],
    ),
    "missing image folder": lambda e: (
        _tiny_run(e, "--dataset", f"imagefolder:{e['tmp'] / 'no-images'}"),
        ["no-images"],
    ),
    "unreachable agent": lambda e: (
        ["latency", "--alpha", "0.25", "--resolution", "32", "--agent", e["closed"]],
        [e["closed"]],
    ),
    "agent with a wrong token": lambda e: (
        ["latency", "--alpha", "0.25", "--resolution", "32", "--remeasure", "--agent", e["guarded"]],
        ["token"],
    ),
    "oversize upload": lambda e: (
        ["latency", "--onnx", str(e["tmp"] / "model.onnx"), "--agent", e["small"]],
        ["1000"],
    ),
    "non-ONNX upload": lambda e: (
        ["latency", "--onnx", str(e["tmp"] / "notes.txt"), "--agent", e["plain"]],
        ["ONNX"],
    ),
    "non-ONNX file timed here": lambda e: (["latency", "--onnx", str(e["tmp"] / "notes.txt")], ["ONNX"]),
    "corrupt study DB": lambda e: (["report", str(e["tmp"] / "corrupt")], ["corrupt/study.db", "not a SQLite"]),
    "study with zeroed pages on --resume": lambda e: (
        ["run", "--resume", "--out", str(e["tmp"] / "zeroed")],
        ["zeroed/study.db", "damaged", "malformed"],
    ),
    "foreign SQLite DB": lambda e: (
        ["export", str(e["tmp"] / "foreign"), "--best"],
        ["foreign/study.db", "no Optuna"],
    ),
    "Optuna study not made by hwsearch": lambda e: (
        ["report", str(e["tmp"] / "plain-optuna")],
        ["not made by hwsearch"],
    ),
    "zero trials": lambda e: (["run", "--trials", "0"], ["0 is not a positive integer"]),
    "negative trials": lambda e: (["run", "--trials", "-3"], ["-3"]),
    "zero worker trials": lambda e: (["worker", "--storage", "sqlite://", "--trials", "0"], ["0"]),
    "zero-epoch budget": lambda e: (_tiny_run(e, "--budget", "quick:epochs=0"), ["epochs = 0"]),
    "unknown budget": lambda e: (["run", "--budget", "turbo"], ["'turbo'", "quick"]),
    "negative latency budget": lambda e: (["run", "--latency-budget-ms", "-5"], ["-5"]),
    "bad thread share": lambda e: (["run", "--threads", "0"], ["0 is not a positive integer"]),
    "unwritable output folder": lambda e: (_tiny_run(e, "--out", str(e["tmp"] / "a-file" / "run")), ["a-file/run"]),
    "unreachable study storage": lambda e: (["worker", "--storage", e["closed_pg"]], [e["closed_pg"]]),
    "malformed storage URL": lambda e: (["worker", "--storage", "mysql+nodriver:/x"], ["mysql+nodriver:/x"]),
    "alias bomb in a device profile": lambda e: (
        ["latency", "--alpha", "0.25", "--resolution", "32", "--device", str(e["tmp"] / "bomb.yaml")],
        ["bomb.yaml", "aliases"],
    ),
    "alias bomb in a space": lambda e: (["space", "show", str(e["tmp"] / "bomb.yaml")], ["bomb.yaml", "aliases"]),
    "5000-digit integer in a profile": lambda e: (
        ["latency", "--alpha", "0.25", "--resolution", "32", "--device", str(e["tmp"] / "bigint.yaml")],
        ["bigint.yaml", "4300 digits"],
    ),
    "deeply nested arch JSON": lambda e: (["cost", str(e["tmp"] / "deep.json")], ["nested too deeply"]),
    "5000-digit integer in arch JSON": lambda e: (["cost", str(e["tmp"] / "huge.json")], ["4300 digits"]),
    "Unicode digits in an arch string": lambda e: (
        ["cost", "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds\uff16\uff14x1s1"],
        ["'ds\uff16\uff14x1s1'"],
    ),
    "a stage of 10^9 blocks": lambda e: (
        ["cost", "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1000000000s1"],
        ["blocks = 1000000000", "[1, 64]"],
    ),
    "resolution 8000": lambda e: (
        ["latency", "--alpha", "1.0", "--resolution", "8000", "--device", "pixel-3"],
        ["resolution = 8000", "[1, 2048]"],
    ),
    "infinite alpha range in a space": lambda e: (
        ["run", "--space", str(e["tmp"] / "inf.yaml")],
        ["inf.yaml", "alpha", "finite"],
    ),
    "a space offering 10^9 channels": lambda e: (
        ["run", "--space", str(e["tmp"] / "wide.yaml")],
        ["wide.yaml", "channels", "16384"],
    ),
    "deeply nested profile YAML": lambda e: (
        ["latency", "--alpha", "0.25", "--resolution", "32", "--device", str(e["tmp"] / "deep.yaml")],
        ["deep.yaml", "nesting deeper than 64"],
    ),
    "--resume on a folder an early stop left empty": lambda e: (
        ["run", "--resume", "--out", str(e["tmp"] / "empty-run")],
        ["empty-run/study.db", "nothing is lost", "hwsearch run --out"],
    ),
    "a one-character token off loopback": lambda e: (
        ["agent", "--host", "0.0.0.0", "--port", "0", "--token", "a"],
        ["token of 1 characters", "at least 16"],
    ),
    "a blank token": lambda e: (["agent", "--port", "0", "--token", " "], ["spaces at its ends"]),
    "agent port out of range": lambda e: (["agent", "--port", "99999"], ["99999", "0-65535"]),
    "a --data-dir that does not exist": lambda e: (
        _tiny_run(e, "--dataset", "fashion-mnist", "--data-dir", str(e["tmp"] / "no-such-dir")),
        ["no-such-dir", "does not exist"],
    ),
}


@pytest.mark.parametrize("row", list(ROWS), ids=list(ROWS))
def test_bad_input_fails_in_one_clear_line(row, env, capsys, monkeypatch):
    monkeypatch.chdir(env["tmp"])
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(env["tmp"] / "latency.sqlite"))
    monkeypatch.setenv("HWSEARCH_AGENT_TOKEN", "wrong-token")
    argv, needles = ROWS[row](env)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0
    # The agents serve from threads of this process; their access log is not the CLI's output.
    lines = [line for line in err.strip().splitlines() if not line.startswith("hwsearch agent:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("hwsearch: error:")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in out + err


def test_the_console_script_fails_the_same_way(env):
    """The same contract through a real process: exit code 2, one line, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "hwsearch", "report", str(env["tmp"] / "corrupt")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not a SQLite" in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_was_written_for_a_failed_run(env):
    """Runs refused on their options leave no half-made run folder behind."""
    assert not (Path(env["tmp"]) / "results").exists()
