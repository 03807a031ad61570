from __future__ import annotations

from pathlib import Path

from selector.catalog import Catalog
from simulator.corpus import Corpus
from simulator.history import history_table
from simulator.scenario import load_scenario
from simulator.world import World
from tests.simulator.conftest import needs_data, shrink
from training.data import load_table

pytestmark = needs_data


def test_the_history_is_a_training_table_of_the_world_before_the_days_events(
    catalog: Catalog, corpus: Corpus, tmp_path: Path
) -> None:
    sc = shrink(load_scenario("regression"), 10, history=300)
    table = history_table(World(sc, catalog, corpus))
    wide = table.pivot(index="request_id", columns="model", values="resolved")
    # same tier, no offsets, the same dice: without the regression the two agree on every turn
    assert (wide["gemini-2.5-pro"] == wide["gpt-5"]).all()
    assert len(wide) == table["request_id"].nunique()
    assert set(table["model"]) == set(sc.models)
    # and it is the generic outcomes table `selector train --source FILE` reads
    path = tmp_path / "history.parquet"
    table.to_parquet(path, index=False)
    data = load_table(path)
    assert data.full_information
    assert data.outcomes["completion_tokens"].gt(0).all()
