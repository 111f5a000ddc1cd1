from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwsearch.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cost_alpha_resolution(capsys):
    code, out, err = run(capsys, "cost", "--alpha", "0.5", "--resolution", "160")
    assert code == 0 and err == ""
    assert "76.5M MACs" in out and "76,524,800" in out
    assert "s4.b1.pw" in out and "5x5x512" in out


def test_cost_of_arch_string_and_json_file(capsys, tmp_path):
    from hwsearch.arch import mobilenet_v1

    arch = mobilenet_v1(0.25, 128)
    code, out, _ = run(capsys, "cost", arch.to_str())
    assert code == 0 and "13.6M MACs" in out  # 0.25 MobileNet-128: TF-slim lists 14M
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    code, out2, _ = run(capsys, "cost", str(path))
    assert code == 0 and out2 == out


def test_paper_tables(capsys):
    code, out, _ = run(capsys, "paper-tables")
    assert code == 0
    assert "39 of 40 figures agree" in out
    assert "4866" in out and "567716352" in out and "99.29%" in out


def test_space_show(capsys):
    code, out, _ = run(capsys, "space", "show")
    assert code == 0
    assert "2,709,504 combinations" in out and "s3_depth" in out and "rho 0.571" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["cost", "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_zz64x1s1"], "'zz64x1s1'"),
        (["cost", "--alpha", "0"], "alpha = 0.0"),
        (["cost"], "no architecture given"),
        (["space", "show", "nope"], "'nope'"),
        (["cost", "--alpha", "abc"], "'abc'"),
        (["frobnicate"], "'frobnicate'"),
        (["cost", "/nonexistent/arch.json"], "/nonexistent/arch.json"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwsearch: error:")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_debug_shows_the_exception(capsys):
    from hwsearch.errors import ArchParseError

    with pytest.raises(ArchParseError):
        main(["--debug", "cost", "nonsense"])


def test_console_script_end_to_end(tmp_path):
    exe = Path(sys.executable).with_name("hwsearch")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hwsearch"]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [*cmd, "paper-tables"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Conv MobileNet" in done.stdout and "39 of 40" in done.stdout
    bad = subprocess.run(
        [*cmd, "cost", "mbv1_bad"], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_output_to_a_file_is_not_wrapped(tmp_path):
    # A pipe, not a terminal: the deepest arch string the space allows stays on one line.
    deep = "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_" + "_".join(f"ds{64 * (i + 1)}x64s1" for i in range(16))
    out = subprocess.run([sys.executable, "-m", "hwsearch", "cost", deep], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert len(deep) > 160 and any(line.strip() == deep for line in out.stdout.splitlines())
