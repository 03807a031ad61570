"""The public benchmarks as training sources."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA, requires_shared_data
from training.data import STRONG, WEAK, load_source


@requires_shared_data("routellm", "mmlu.csv.gz")
def test_routellm_mmlu_has_both_models_and_excludes_contaminated_prompts() -> None:
    d = load_source("routellm-mmlu", SHARED_DATA)
    assert list(d.models["model"]) == [WEAK, STRONG]
    assert len(d.requests) == 14_042
    assert int((~d.requests["eval"]).sum()) == 5
    y = d.matrix()
    assert y[WEAK].mean() == pytest.approx(0.681, abs=0.001)
    assert y[STRONG].mean() == pytest.approx(0.806, abs=0.001)
    assert d.requests["intent"].nunique() == 57


@requires_shared_data("zeroeval", "prices.csv")
def test_zeroeval_gsm_is_priced_and_matches_the_published_best_model() -> None:
    d = load_source("zeroeval-gsm", SHARED_DATA)
    y = d.matrix()
    assert y.mean().idxmax() == "claude-3-5-sonnet-20241022"
    assert y.mean().max() == pytest.approx(0.967, abs=0.001)
    assert d.matrix("cost_usd")["claude-3-5-sonnet-20241022"].sum() == pytest.approx(2.24, rel=0.05)
