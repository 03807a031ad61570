from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from features.difficulty import load_difficulty
from features.extractor import Conversation
from models.prior import DEFAULT_PRIOR_PATH, PriorQualityModel, load_prior
from tests.builders import Parts


@pytest.fixture(scope="module")
def parts() -> Parts:
    return Parts(with_classifier=False)


def p_of(parts: Parts, model: str, **conv: object) -> float:
    fv = parts.extractor.extract(Conversation(**conv), [model])  # type: ignore[arg-type]
    return parts.quality.predict(fv)[0]


def test_prior_reads_tier_group_and_length(parts: Parts) -> None:
    assert p_of(parts, "gemini-2.5-flash-lite", turns=2, intent="request_refund") == 0.60
    assert p_of(parts, "claude-opus-4.1", turns=2, intent="request_refund") == 0.85
    assert p_of(parts, "claude-opus-4.1", turns=30, intent="request_refund") == 0.75
    assert p_of(parts, "gemini-2.5-flash", turns=8, intent="book_flight") == 0.92


def test_escalation_lowers_small_models_most(parts: Parts) -> None:
    small = p_of(parts, "gpt-5-mini", turns=2, intent="card_arrival", escalation=True)
    large = p_of(parts, "gpt-5", turns=2, intent="card_arrival", escalation=True)
    assert small == pytest.approx(0.90 - 0.15)
    assert large == pytest.approx(0.93 - 0.03)


def test_prior_errors_name_the_field(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_PRIOR_PATH.read_text())
    raw["p_resolved"]["payments"]["small"] = [0.5, 1.5, 0.2]
    bad = tmp_path / "prior.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"p_resolved\.payments\.small"):
        load_prior(bad)
    del raw["p_resolved"]["other"]
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="other"):
        load_prior(bad)


def _with_difficulty(parts: Parts, weight: float) -> PriorQualityModel:
    table = load_prior().model_copy(update={"difficulty_weight": weight})
    return PriorQualityModel(
        table, parts.taxonomy.group_names, parts.catalog.names, load_difficulty()
    )


HARD_TEXT = (
    "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field, and prove the quotient "
    "ring is a field of 9 elements when it is.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:"
)


def test_a_hard_text_lowers_every_model_and_widens_the_gap(parts: Parts) -> None:
    prior = _with_difficulty(parts, 1.0)
    models = ["gpt-5-mini", "gpt-5"]

    def ps(text: str, quality: PriorQualityModel) -> list[float]:
        conv = Conversation(turns=2, intent="card_arrival", messages=[("user", text)])
        return quality.predict(parts.extractor.extract(conv, models))

    plain = ps(HARD_TEXT, parts.quality)  # the table alone: no difficulty
    hard, easy = ps(HARD_TEXT, prior), ps("where is my new card", prior)
    assert hard[0] < plain[0]
    assert hard[1] < plain[1]
    assert easy[0] > hard[0]
    assert hard[1] - hard[0] > plain[1] - plain[0]  # the large model's edge grows
    assert ps(HARD_TEXT, _with_difficulty(parts, 0.0)) == plain  # weight 0: off


def test_the_shipped_prior_weighs_difficulty_and_refuses_a_negative_weight(
    tmp_path: Path,
) -> None:
    assert load_prior().difficulty_weight == 1.0
    raw = yaml.safe_load(DEFAULT_PRIOR_PATH.read_text())
    raw["difficulty_weight"] = -1
    bad = tmp_path / "prior.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="difficulty_weight"):
        load_prior(bad)
