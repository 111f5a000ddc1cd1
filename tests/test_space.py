from __future__ import annotations

import textwrap

import optuna
import pytest

from hwsearch.arch import mobilenet_v1
from hwsearch.errors import SpaceError
from hwsearch.space import RandomSuggester, load_space, parse_space, sample_valid

GOOD = textwrap.dedent(
    """\
    name: tiny
    input: {channels: 1, classes: 10}
    base_resolution: 32
    rho: [0.5, 1.0]
    alpha: {min: 0.25, max: 0.5, step: 0.25}
    stem: {channels: 8, stride: 1}
    stages:
      - {channels: 16, depth: {min: 1, max: 2}, stride: [1, 2], block: [ds, conv]}
      - {channels: 32, depth: 1, stride: 2}
    rules:
      total_stride: {min: 2, max: 4}
      min_final_size: 5
    """
)


def write(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_space_contains_the_paper_grid():
    space = load_space()
    assert space.resolutions == (128, 144, 160, 176, 192, 208, 224)
    for alpha in (1.0, 0.75, 0.5, 0.25):
        for resolution in (224, 192, 160, 128):
            arch = mobilenet_v1(alpha, resolution)
            params = space.params_for(arch)
            assert space.arch_from_params(params) == arch
            assert space.violations(arch) == []


def test_tiny_space_grid_is_complete_and_valid(tmp_path):
    space = load_space(write(tmp_path, GOOD))
    assert space.choices() == {
        "alpha": (0.25, 0.5),
        "resolution": (16, 32),
        "s0_depth": (1, 2),
        "s0_stride": (1, 2),
        "s0_block": ("ds", "conv"),
    }
    assert space.size() == 32
    archs = list(space.grid())
    # total stride is 2 or 4 (stage 1 always halves); at 16 px a stride of 4 leaves a 4x4 map, below 5
    assert len(archs) == 32 - 8
    assert len(set(archs)) == len(archs)
    assert all(not space.violations(a) for a in archs)
    assert all(a.in_channels == 1 and a.num_classes == 10 for a in archs)


def test_sample_from_a_real_optuna_trial(tmp_path):
    space = load_space(write(tmp_path, GOOD))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    arch = space.sample(trial)
    assert trial.params == space.params_for(arch)
    assert space.arch_from_params(trial.params) == arch


def test_violations_name_the_rule():
    space = load_space()
    arch = space.arch_from_params({**space.params_for(mobilenet_v1(1.0, 224)), "s0_stride": 2})
    assert arch.total_stride == 64
    assert any("total stride 64" in v for v in space.violations(arch))


def test_params_for_rejects_foreign_arch():
    with pytest.raises(SpaceError, match="an architecture of space"):
        load_space().params_for(mobilenet_v1(0.3, 224))


def test_random_samples_are_seeded():
    space = load_space()
    first = [sample_valid(space, RandomSuggester(5)) for _ in range(1)]
    again = [sample_valid(space, RandomSuggester(5)) for _ in range(1)]
    assert first == again


@pytest.mark.parametrize(
    ("old", "new", "key", "value"),
    [
        ("name: tiny", "name: tiny\nfoo: 1", "foo", 1),
        ("depth: {min: 1, max: 2}", "depth: {min: 3, max: 2}", "stages.0.depth", {"min": 3, "max": 2}),
        ("stride: [1, 2], block", "stride: [1, 3], block", "stages.0.stride.1", 3),
        ("block: [ds, conv]", "block: [ds, mbconv]", "stages.0.block.1", "mbconv"),
        ("alpha: {min: 0.25, max: 0.5, step: 0.25}", "alpha: [0.5, 9]", "alpha.1", 9),
        ("rho: [0.5, 1.0]", "rho: [0.5, 1.0]\nresolution: [32]", "<file>", None),
        ("min_final_size: 5", "min_final_size: 40", "<file>", None),
        ("channels: 8, stride: 1", "channels: -8, stride: 1", "stem.channels", -8),
        ("depth: 1,", "depth: 1.5,", "stages.1.depth.0", 1.5),
    ],
)
def test_bad_fields_are_reported_with_file_key_and_value(tmp_path, old, new, key, value):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpaceError) as info:
        load_space(path)
    err = info.value
    assert err.source == str(path)
    assert err.key == key
    if value is not None:
        assert err.value == value
    assert "\n" not in str(err) and str(path) in str(err)


def test_yaml_syntax_error_gives_line(tmp_path):
    path = write(tmp_path, "name: [unclosed\nalpha: 1\n")
    with pytest.raises(SpaceError, match="line"):
        load_space(path)


def test_unknown_space_name_lists_known_ones():
    with pytest.raises(SpaceError, match="mobilenet_v1") as info:
        load_space("no_such_space")
    assert info.value.value == "no_such_space"


def test_missing_file():
    with pytest.raises(SpaceError, match="existing YAML file"):
        load_space("/nonexistent/space.yaml")


def test_parse_space_from_text_needs_a_mapping():
    with pytest.raises(SpaceError, match="mapping"):
        parse_space("- just\n- a list\n")
