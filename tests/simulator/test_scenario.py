from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from simulator.scenario import BUILTIN, load_scenario


def test_the_builtin_incident_scenario_loads_by_name_and_by_path() -> None:
    by_name = load_scenario("incident")
    assert by_name == load_scenario(BUILTIN / "incident.yaml")
    assert by_name.day.spikes[0].multiplier == 3
    assert by_name.reward.cost_weight == pytest.approx(1 / by_name.reward.value_usd)


def _write(tmp_path: Path, change: dict[tuple[str, ...], object]) -> Path:
    raw = yaml.safe_load((BUILTIN / "incident.yaml").read_text())
    for keys, value in change.items():
        *parents, leaf = keys
        node = raw
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_bad_value_names_its_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {("models", "claude-opus-4.1", "capacity_per_min"): 0})
    with pytest.raises(ConfigError, match=r"models\.claude-opus-4\.1\.capacity_per_min"):
        load_scenario(path)


def test_an_unknown_field_is_refused_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path, {("day", "conversatons"): 10})
    with pytest.raises(ConfigError, match=r"day\.conversatons: Extra inputs"):
        load_scenario(path)


def test_a_model_named_but_not_described_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, {("heavy_model",): "gpt-9"})
    with pytest.raises(ConfigError, match="heavy_model: 'gpt-9' is not one of the scenario's"):
        load_scenario(path)


def test_a_spike_must_end_after_it_starts(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {("day", "spikes"): [{"start_hour": 12, "end_hour": 10, "multiplier": 2}]}
    )
    with pytest.raises(ConfigError, match="end_hour must be after start_hour"):
        load_scenario(path)


def test_a_missing_scenario_lists_the_builtin_ones() -> None:
    with pytest.raises(ConfigError, match=r"built-in name \(.*incident"):
        load_scenario("no-such-scenario")


@pytest.mark.parametrize("path", sorted(BUILTIN.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_builtin_scenario_is_valid_and_named_after_its_file(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
