from __future__ import annotations

import pytest

from hwsearch.search.config import SearchConfig, SearchConfigError, default_population


def test_config_validation_and_round_trip():
    config = SearchConfig(trials=5, latency_budget_ms=3.5)
    assert SearchConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SearchConfigError, match="--trials 0"):
        SearchConfig(trials=0)
    with pytest.raises(SearchConfigError, match="--latency-budget-ms -1"):
        SearchConfig(latency_budget_ms=-1)
    with pytest.raises(SearchConfigError, match="--sampler 'cmaes'"):
        SearchConfig(sampler="cmaes")
    with pytest.raises(SearchConfigError, match="newer hwsearch"):
        SearchConfig.from_dict({**config.to_dict(), "future_option": 1})


def test_config_errors_are_value_errors_carrying_the_value():
    with pytest.raises(ValueError) as info:
        SearchConfig(seed=-3)
    assert info.value.value == -3


def test_population_follows_the_budget_and_is_fixed_at_creation():
    assert [default_population(n) for n in (10, 40, 150, 1000)] == [8, 8, 15, 32]
    config = SearchConfig(trials=150)
    assert config.population == 15
    # Stored and read back with more trials, the population stays what it was.
    again = SearchConfig.from_dict({**config.to_dict(), "trials": 400})
    assert again.population == 15


def test_promotion_waits_for_the_rung_by_default_and_old_ladder_studies_keep_theirs():
    assert SearchConfig().promotion == "end" and SearchConfig().promotes_at_end
    assert not SearchConfig(promotion="async").promotes_at_end
    with pytest.raises(SearchConfigError, match="--promotion 'soon'") as info:
        SearchConfig(promotion="soon")
    assert info.value.value == "soon" and "end, async" in info.value.hint
    stored = SearchConfig().to_dict()
    del stored["promotion"]  # a ladder study made before the option promoted as its rungs filled
    assert SearchConfig.from_dict(stored).promotion == "async"
    assert not SearchConfig.from_dict(stored).promotes_at_end
