"""report.html: one self-contained page (plots inlined), with sortable tables and copyable commands.

The page's script sorts a table when a header is clicked (or as ``#sort=COLUMN`` /
``#sort=-COLUMN`` in the address asks), copies a command when its button is clicked, and
marks each table it made sortable with ``data-sortable="ready"``, which the tests read.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsearch.proxy.limits import ProxyLimit
from hwsearch.report.picks import export_command, history_sentence, train_command
from hwsearch.report.summary import RunSummary

LIMITS_TITLE = "Decisions this proxy cannot judge"


@dataclass(frozen=True)
class Column:
    """One table column: its key (for ``#sort=KEY``), header, and how a row shows it."""

    key: str
    header: str
    text: Callable[[pd.Series], str]
    numeric: bool = True


def _num(name: str, digits: int, scale: float = 1.0) -> Callable[[pd.Series], str]:
    def show(row: pd.Series) -> str:
        value = row[name]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return f"{float(value) / scale:.{digits}f}"

    return show


def _state(row: pd.Series) -> str:
    if row.feasible:
        return "feasible"
    return f"{row.get('state', '')}: {row.get('violations', '')}".strip(": ")


def _text(name: str) -> Callable[[pd.Series], str]:
    return lambda row: "" if pd.isna(row[name]) else str(row[name])


_COMMON = [
    Column("number", "trial", lambda row: str(int(row.number))),
    Column("baseline", "paper model", _text("baseline"), numeric=False),
    Column("accuracy_pct", "proxy accuracy %", _num("accuracy_pct", 2)),
    Column("accuracy_std_pct", "± seed s.d.", _num("accuracy_std_pct", 2)),
    Column("seeds", "seeds", lambda row: str(int(row.seeds))),
    Column("budget", "budget", _text("budget"), numeric=False),
    Column("latency_ms", "latency ms", _num("latency_ms", 3)),
    Column("latency_error_pct", "latency ± % (expected)", _num("latency_error_pct", 1)),
    Column("latency_source", "latency source", _text("latency_source"), numeric=False),
    Column("macs", "MMACs", _num("macs", 1, 1e6)),
    Column("params", "M params", _num("params", 3, 1e6)),
]
TRIAL_COLUMNS = [
    *_COMMON[:3],
    Column("explore_accuracy_pct", "exploration accuracy %", _num("explore_accuracy_pct", 2)),
    *_COMMON[3:],
    Column("alpha", "α", _num("alpha", 3)),
    Column("resolution", "resolution", lambda row: str(int(row.resolution))),
    Column("depth", "blocks", lambda row: str(int(row.depth))),
    Column("on_front", "on front", lambda row: "yes" if row.on_front else "", numeric=False),
    Column("state", "state", _state, numeric=False),
]
FRONT_COLUMNS = [*_COMMON[:5], *_COMMON[6:], Column("arch", "architecture", _text("arch"), numeric=False)]
BREAKS = {"budget": ",", "arch": "_"}

STYLE = """
body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12.5px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px}th{background:#f3f3f3;text-align:left}
th.sort{cursor:pointer;user-select:none}th.sort:after{content:" \\2195";color:#999}
th[aria-sort=ascending]:after{content:" \\25B2";color:#333}th[aria-sort=descending]:after{content:" \\25BC";color:#333}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.arch{font-family:monospace;font-size:11px;min-width:16em}
td.budget{font-size:11px;min-width:14em}td.cmds{min-width:26em}td.cmds code{font-size:11px;overflow-wrap:anywhere}
.scroll th{position:sticky;top:0}
tr.front td{background:#fff4f0}code{background:#f5f5f5;padding:1px 4px;font-size:12px}
.cmd button{font-size:11px;margin-left:4px}img{max-width:100%}
.scroll{max-height:36em;overflow:auto;border:1px solid #ddd}
""".replace("\n", "")

SCRIPT = """
(function () {
  var root = document.documentElement;
  window.addEventListener('error', function (e) { root.setAttribute('data-js-error', String(e.message)); });
  function value(cell, numeric) {
    var raw = cell.getAttribute('data-value');
    if (raw === null) { raw = cell.textContent; }
    if (!numeric) { return raw.toLowerCase(); }
    var n = parseFloat(raw);
    return isNaN(n) ? null : n;
  }
  function sortBy(table, th, descending) {
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute('data-type') === 'num';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[col], numeric), y = value(b.cells[col], numeric);
      if (x === y) { return 0; }
      if (x === null || x === '') { return 1; }
      if (y === null || y === '') { return -1; }
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.children, function (other) { other.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.classList.add('sort');
      th.title = 'sort by ' + th.textContent;
      th.addEventListener('click', function () {
        sortBy(table, th, th.getAttribute('aria-sort') === 'ascending');
      });
    });
    table.setAttribute('data-sortable', 'ready');
  });
  var asked = /^#sort=(-?)([a-z_]+)$/.exec(window.location.hash);
  if (asked) {
    Array.prototype.forEach.call(document.querySelectorAll('table.sortable th[data-key="' + asked[2] + '"]'),
      function (th) { sortBy(th.closest('table'), th, asked[1] === '-'); });
  }
  function copied(button) { button.textContent = 'copied'; }
  Array.prototype.forEach.call(document.querySelectorAll('button[data-copy]'), function (button) {
    button.addEventListener('click', function () {
      var text = button.getAttribute('data-copy');
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button); });
        return;
      }
      var area = document.createElement('textarea');
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand('copy');
      area.remove();
      copied(button);
    });
  });
  root.setAttribute('data-report-script', 'done');
})();
"""


def _command(text: str) -> str:
    quoted = html.escape(text, quote=True)
    button = f'<button type="button" data-copy="{quoted}">copy</button>'
    return f'<span class="cmd"><code>{html.escape(text)}</code>{button}</span>'


def _commands(run_dir: Path, number: int) -> str:
    return f"{_command(export_command(run_dir, number))}<br>{_command(train_command(run_dir, number))}"


def table_html(rows: pd.DataFrame, columns: Sequence[Column], *, table_id: str, run_dir: Path | None = None) -> str:
    """A sortable table of ``rows``; with ``run_dir``, a last column of export and train commands per row."""
    columns = [c for c in columns if c.key in rows.columns or c.key == "state"]  # older tables lack some
    head = "".join(f'<th data-key="{c.key}" data-type="{"num" if c.numeric else "text"}">{html.escape(c.header)}</th>'
                   for c in columns)  # fmt: skip
    if run_dir is not None:
        head += '<th data-key="commands" data-type="text">commands (copy)</th>'
    body = []
    for _, row in rows.iterrows():
        cells = []
        for column in columns:
            shown = column.text(row)
            text = html.escape(shown)
            if column.key in BREAKS:  # long specs with no spaces: let them wrap at their own separators
                text = text.replace(BREAKS[column.key], BREAKS[column.key] + "<wbr>")
            kind = "num" if column.numeric else column.key
            cells.append(f'<td class="{kind}" data-value="{html.escape(shown, quote=True)}">{text}</td>')
        if run_dir is not None:
            cells.append(f'<td class="cmds">{_commands(run_dir, int(row.number))}</td>')
        front = ' class="front"' if bool(row.get("on_front", False)) else ""
        body.append(f'<tr{front} title="{html.escape(str(row.arch))}">{"".join(cells)}</tr>')
    return (f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></p>'


def _item(line: str) -> str:
    return f"<li>{html.escape(line.removeprefix('- ')).replace('**', '')}</li>"


def _suggestion_items(lines: list[str], summary: RunSummary, run_dir: Path) -> str:
    rows = [summary.knee, summary.within]
    items = []
    for line, row in zip(lines, rows, strict=False):
        extra = f"<br>{_commands(run_dir, int(row.number))}" if row is not None else ""
        items.append(_item(line).replace("</li>", f"{extra}</li>"))
    return "".join(items)


def render_html(*, lines: list[str], suggestions: list[str], summary: RunSummary, frame: pd.DataFrame,
                images: Sequence[Path], hypervolume_png: Path, limits: Sequence[ProxyLimit],
                run_dir: Path) -> str:  # fmt: skip
    """The whole page."""
    cannot = "".join(f"<li><b>{html.escape(x.decision)}</b>: {html.escape(x.evidence)}.</li>" for x in limits)
    cannot = f"<h2>{LIMITS_TITLE}</h2><ul>{cannot}</ul>" if limits else ""
    budget = html.escape(summary.report_budget)
    trials = frame.sort_values("number")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>hwsearch run report</title>"
        f"<style>{STYLE}</style></head><body><h1>hwsearch run report</h1>"
        f"<ul>{''.join(_item(line) for line in lines)}</ul>"
        f"<h2>Suggested networks</h2><ul>{_suggestion_items(suggestions, summary, run_dir)}</ul>"
        f"<h2>Pareto front at '{budget}' (fastest first; click a header to sort)</h2>"
        f"{table_html(summary.front, FRONT_COLUMNS, table_id='front', run_dir=run_dir)}{cannot}"
        f"{''.join(_image(p) for p in images)}"
        f"<h2>Hypervolume of the exploration at '{html.escape(summary.explore_budget)}'</h2>"
        f"<p>{html.escape(history_sentence(summary))}</p>{_image(hypervolume_png)}"
        f"<h2>Every finished trial ({len(trials)}; front rows shaded; hover a row for its architecture)</h2>"
        f"<div class='scroll'>{table_html(trials, TRIAL_COLUMNS, table_id='trials')}</div>"
        f"<script>{SCRIPT}</script></body></html>"
    )
