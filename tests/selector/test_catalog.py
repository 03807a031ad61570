from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from selector.catalog import load_catalog
from selector.config import PACKAGE_DIR

GOOD = """
models:
  - name: small
    provider: p1
    tier: small
    input_usd_per_mtok: 0.1
    output_usd_per_mtok: 0.4
    context_window: 1000
    latency_slo_ms: 2000
    expected_latency_ms: 400
  - name: big
    provider: p2
    tier: large
    input_usd_per_mtok: 10
    output_usd_per_mtok: 30
    context_window: 200000
    latency_slo_ms: 5000
    expected_latency_ms: 1500
    enabled: false
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "catalog.yaml"
    p.write_text(text)
    return p


def test_default_catalog_holds_the_seven_models_our_users_run() -> None:
    cat = load_catalog(PACKAGE_DIR / "catalog.yaml")
    assert set(cat.names) == {
        "claude-sonnet-3.7",
        "claude-opus-4.1",
        "gemini-2.5-flash-lite",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gpt-5",
        "gpt-5-mini",
    }
    assert cat["claude-opus-4.1"].input_usd_per_mtok == 15.0
    assert cat["gemini-2.5-flash-lite"].output_usd_per_mtok == 0.40
    assert all(m.enabled for m in cat)


def test_catalog_keeps_file_order_and_enabled_subset(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, GOOD))
    assert cat.names == ("small", "big")
    assert cat.enabled_names == ("small",)
    assert cat["small"].cost_usd(1_000_000, 1_000_000) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "input_usd_per_mtok: 0.1",
            "input_usd_per_mtok: -1",
            "models[0] (small): input_usd_per_mtok",
        ),
        ("tier: large", "tier: huge", "models[1] (big): tier"),
        ("context_window: 1000", "context_window: many", "models[0] (small): context_window"),
        (
            "    expected_latency_ms: 400\n",
            "",
            "models[0] (small): expected_latency_ms: Field required",
        ),
        ("name: big", "name: small", "models[1] (small): name: duplicate name"),
        (
            "latency_slo_ms: 2000",
            "latency_slo_ms: 2000\n    colour: red",
            "models[0] (small): colour",
        ),
    ],
)
def test_catalog_errors_name_the_entry_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_catalog(write(tmp_path, GOOD.replace(old, new, 1)))
    assert expected in str(err.value)


def test_missing_catalog_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SELECTOR_CATALOG_PATH"):
        load_catalog(tmp_path / "absent.yaml")


def test_a_catalog_with_nothing_enabled_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    expected_latency_ms: 400\n", "    expected_latency_ms: 400\n    enabled: false\n"
    )
    with pytest.raises(ConfigError, match="no model is enabled"):
        load_catalog(write(tmp_path, text))


def test_a_catalog_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="models"):
        load_catalog(write(tmp_path, "models: 3\n"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_usd_per_mtok", ".inf"),
        ("output_usd_per_mtok", ".nan"),
        ("expected_latency_ms", ".inf"),
        ("latency_slo_ms", "1.0e+300"),
        ("input_usd_per_mtok", "1.0e+300"),
    ],
)
def test_a_number_that_is_not_finite_or_beyond_its_range_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    text = GOOD.replace(f"    {field}: ", f"    {field}: {value}\n    _old_{field}: ", 1).replace(
        f"    _old_{field}: ", "    # was: ", 1
    )
    with pytest.raises(ConfigError, match=rf"models\[0\] \(small\): {field}"):
        load_catalog(write(tmp_path, text))


def test_a_prior_with_an_infinite_delta_is_refused(tmp_path: Path) -> None:
    from models.prior import DEFAULT_PRIOR_PATH, load_prior

    text = DEFAULT_PRIOR_PATH.read_text() + "\nmodel_delta:\n  gpt-5: .inf\n"
    bad = tmp_path / "prior.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="model_delta"):
        load_prior(bad)


def test_a_cached_price_is_read_under_either_name_and_priced(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    output_usd_per_mtok: 0.4\n",
        "    output_usd_per_mtok: 0.4\n    cached_input_price_per_mtok: 0.025\n",
        1,
    )
    cat = load_catalog(write(tmp_path, text))
    small = cat["small"]
    assert small.cached_input_usd_per_mtok == 0.025
    assert (small.cache_lifetime_s, small.cache_min_tokens) == (300.0, 1_024)
    # 600 of 1,000 prompt tokens read from the cache, never more than the prompt
    assert small.cost_usd(1_000, 0, 600) == pytest.approx((400 * 0.1 + 600 * 0.025) / 1e6)
    assert small.cost_usd(1_000, 0, 5_000) == pytest.approx(1_000 * 0.025 / 1e6)
    assert cat["big"].cost_usd(1_000, 0, 600) == cat["big"].cost_usd(1_000, 0)  # no cache priced
    assert load_catalog(PACKAGE_DIR / "catalog.yaml")["gpt-5"].cached_input_usd_per_mtok == 0.125


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "cached_input_usd_per_mtok: 0.5",
            "models[0] (small): entry: Value error, cached_input_usd_per_mtok (0.5) is above "
            "input_usd_per_mtok (0.1)",
        ),
        ("cache_lifetime_s: 0", "models[0] (small): cache_lifetime_s: Input should be greater"),
        ("cache_min_tokens: -1", "models[0] (small): cache_min_tokens: Input should be greater"),
    ],
)
def test_a_wrong_cache_field_is_named(tmp_path: Path, extra: str, expected: str) -> None:
    text = GOOD.replace(
        "    output_usd_per_mtok: 0.4\n", f"    output_usd_per_mtok: 0.4\n    {extra}\n", 1
    )
    with pytest.raises(ConfigError) as err:
        load_catalog(write(tmp_path, text))
    assert expected in str(err.value)
