from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from features.extractor import Conversation
from models.prior import DEFAULT_PRIOR_PATH, load_prior
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
