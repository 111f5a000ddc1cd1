"""The PyTorch CUDA timing path (provider ``torch-cuda``): its settings, its clean refusals without a GPU,
and its protocol run for real on the CPU device (the CUDA events and graphs themselves need a GPU;
``benchmarks/gpu_check.py`` checks them there)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

import pytest
import torch
from _latency_support import TINY, one_error_line, running_agent, write_profile

import hwsearch.model
from hwsearch.arch import mobilenet_v1
from hwsearch.cli import main
from hwsearch.devices import load_device
from hwsearch.errors import MeasurementError, ProviderUnavailableError, SettingsError
from hwsearch.latency import AgentClient, LatencyCache, build_table, latency_for, measure_arch, measure_model
from hwsearch.latency._measure import check_agent
from hwsearch.latency._torch_cuda import _check_output, _fold_batchnorm, check_torch_cuda, measure_torch
from hwsearch.measurement import MeasureSettings
from hwsearch.space import load_space

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
QUICK = MeasureSettings(provider="torch-cuda", warmup_runs=1, min_runs=4, min_time_s=0.0, max_runs=4)


def _profile(tmp_path, *, kind: str = "local", extra: str = "") -> str:
    path = write_profile(tmp_path, "gpu-box", kind=kind, provider="torch-cuda")
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return str(path)


def test_settings_allow_fp16_and_cuda_graphs_only_where_they_can_run():
    assert MeasureSettings(provider="torch-cuda", precision="fp16", cuda_graphs=1).cuda_graphs == 1
    with pytest.raises(SettingsError, match="CUDA graphs need provider torch-cuda"):
        MeasureSettings(provider="cuda", cuda_graphs=1)
    with pytest.raises(SettingsError, match="fp16 needs provider tensorrt or torch-cuda"):
        MeasureSettings(provider="cpu", precision="fp16")
    with pytest.raises(SettingsError, match="integer in"):
        MeasureSettings(provider="torch-cuda", cuda_graphs=2)


def test_cuda_graphs_off_keeps_every_older_cache_key():
    settings = MeasureSettings(provider="cuda")
    older = {k: v for k, v in asdict(settings).items() if k != "cuda_graphs"}  # the fields before the option
    payload = json.dumps({"version": 1, **older}, sort_keys=True)
    assert settings.digest() == hashlib.sha256(payload.encode()).hexdigest()[:16]
    graphs = MeasureSettings(provider="torch-cuda", cuda_graphs=1)
    assert graphs.digest() != MeasureSettings(provider="torch-cuda").digest()
    assert MeasureSettings.from_query({k: [v] for k, v in graphs.to_query().items()}) == graphs


def test_the_shipped_profile_and_a_profile_file_give_the_settings():
    assert load_device("local-torch-cuda").settings.provider == "torch-cuda"
    assert load_device("local-torch-cuda").family == "nvidia-gpu"


def test_a_profile_with_graphs_on_another_provider_is_refused(tmp_path):
    path = write_profile(tmp_path, "bad", provider="cuda")
    path.write_text(path.read_text(encoding="utf-8") + "  cuda_graphs: true\n", encoding="utf-8")
    with pytest.raises(Exception, match="cuda_graphs needs provider torch-cuda"):
        load_device(path)


@NO_GPU
def test_without_a_gpu_the_path_refuses_before_building_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(hwsearch.model, "build_model", lambda *a, **k: pytest.fail("built a network needlessly"))
    with pytest.raises(ProviderUnavailableError, match="CPU-only build"):
        check_torch_cuda()
    with pytest.raises(ProviderUnavailableError, match="needs PyTorch with CUDA"):
        measure_arch(TINY, load_device("local-torch-cuda"), cache=LatencyCache(tmp_path / "c.sqlite"))
    with pytest.raises(ProviderUnavailableError, match="needs PyTorch with CUDA"):
        measure_torch(TINY, QUICK)
    assert len(LatencyCache(tmp_path / "c.sqlite")) == 0


@NO_GPU
def test_the_cli_says_so_in_one_line(capsys, tmp_path):
    assert main(["latency", TINY.to_str(), "--device", "local-torch-cuda"]) == 2
    line = one_error_line(capsys)
    assert "torch-cuda" in line and "CPU-only build" in line and "choose a CPU profile" in line
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not even read")
    assert main(["latency", "--onnx", str(model), "--device", "local-torch-cuda"]) == 2
    assert "not ONNX files" in one_error_line(capsys)


@NO_GPU
def test_latency_for_falls_back_to_the_estimator_or_names_the_reason(tmp_path):
    with pytest.raises(ProviderUnavailableError, match="torch-cuda"):
        latency_for(TINY, load_device(_profile(tmp_path)))


def test_an_onnx_file_and_a_lookup_table_are_refused_on_any_machine(tmp_path):
    device = load_device(_profile(tmp_path))
    with pytest.raises(ProviderUnavailableError, match="not ONNX files"):
        measure_model(b"", device)
    space = load_space("mobilenet_v1")
    with pytest.raises(ProviderUnavailableError, match="lookup tables are timed with onnxruntime"):
        build_table(device, space, anchors=0, limit=1, path=tmp_path / "t.lut.csv")


def test_an_agent_is_never_asked_to_run_it(tmp_path):
    with running_agent() as server, pytest.raises(ProviderUnavailableError, match="times on this machine only"):
        check_agent(AgentClient(server.url), MeasureSettings(provider="torch-cuda"))


def test_folded_batchnorm_gives_the_same_logits():
    arch = mobilenet_v1(0.25, 32, num_classes=7)
    model = hwsearch.model.build_model(arch, seed=3).eval()
    with torch.no_grad():  # non-trivial running statistics, so the fold has something to fold
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        before = model(x)
        folded = _fold_batchnorm(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        assert torch.allclose(folded(x), before, atol=1e-4)


def test_the_protocol_runs_for_real_on_the_cpu_device_and_never_names_a_gpu():
    reference = (mobilenet_v1(0.25, 64, num_classes=10), "ref-net")
    record = measure_torch(TINY, QUICK, reference, device="cpu")
    assert record.is_measured and record.runs == QUICK.min_runs and record.warmup == QUICK.warmup_runs
    assert (record.provider, record.runtime, record.host) == ("torch-cuda", "torch", "torch device cpu")
    assert record.reference.startswith("ref-net@") and record.drift_ratio > 0 and record.reference_ms > 0
    assert record.median_ms > 0
    alone = measure_torch(TINY, QUICK, device="cpu")
    assert alone.reference == "" and alone.model_sha256 == record.model_sha256
    unpaired = measure_torch(TINY, replace(QUICK, interleave=0), reference, device="cpu")
    assert unpaired.reference == "" and unpaired.runs == QUICK.min_runs
    with pytest.raises(MeasurementError, match="CUDA graphs need a CUDA device"):
        measure_torch(TINY, MeasureSettings(provider="torch-cuda", cuda_graphs=1), device="cpu")


def test_logits_that_overflow_are_refused():
    with pytest.raises(MeasurementError, match="not finite"):
        _check_output(torch.tensor([[1.0, float("inf")]]), None)
    with pytest.raises(MeasurementError, match="shape"):
        _check_output(torch.zeros(1, 3), TINY)


def test_devices_names_the_runtime_it_measures_with(capsys):
    assert main(["devices"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "local-torch-cuda" in line)
    assert "torch fp32" in row and "onnxruntime" not in row


def test_without_a_table_or_points_the_hint_never_offers_a_table_it_would_refuse(capsys):
    assert main(["validate", "--device", "local-torch-cuda", "--n", "2"]) == 2
    line = one_error_line(capsys)
    assert "hwsearch calibrate --device local-torch-cuda" in line and "hwsearch profile" not in line


def test_profile_refuses_before_it_plans_or_shows_progress(capsys):
    assert main(["profile", "--device", "local-torch-cuda"]) == 2
    captured = capsys.readouterr()
    assert "profiling" not in captured.out and "entries" not in captured.out
    assert "lookup tables are timed with onnxruntime" in captured.err
