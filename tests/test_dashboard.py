"""A run's study as the real optuna-dashboard shows it, read through its HTTP API on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna_dashboard  # a test dependency (pyproject's "test" extra), never skipped
import pytest

from hwsearch.search import SearchConfig, Session, Worker
from tests._search_support import world


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # the dashboard's access log is not the test's output
        pass


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    # A MACs budget no network meets: every trial's constraints show it.
    config = SearchConfig(device=w["device"], space=w["space"], budget=w["budget"], rungs=(w["rungs"],),
                          dataset=w["dataset"], trials=3, baselines=False, sampler="random",
                          macs_budget=1.0)  # fmt: skip
    session = Session.create(config, tmp_path / "run", worker=Worker(threads=1))
    session.run()
    session.close()
    return session


def _get(url: str) -> dict:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=30) as response:
        return json.loads(response.read())


def test_the_dashboard_names_the_objectives_and_shows_each_trials_constraints(run):
    app = optuna_dashboard.wsgi(run.storage)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        studies = _get(f"{base}/api/studies")["study_summaries"]
        ours = next(s for s in studies if s["study_name"] == run.study.study_name)
        detail = _get(f"{base}/api/studies/{ours['study_id']}")
    finally:
        server.shutdown()
        server.server_close()
    assert detail["objective_names"] == ["accuracy_pct", "latency_ms"]
    searched = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(searched) == 3
    for trial in searched:
        space_rules, latency_ms, macs = trial["constraints"]  # in CONSTRAINT_NAMES order
        assert space_rules <= 0 and latency_ms == 0 and macs > 0  # infeasible, and the dashboard can tell
    assert run.study.user_attrs["hwsearch_constraint_names"] == ["space_rules", "latency_ms", "macs"]
