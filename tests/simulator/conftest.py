"""A small world over the built-in incident scenario and the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.intents import IntentClassifier, IntentTaxonomy
from selector.catalog import Catalog
from simulator.corpus import Corpus, load_corpus
from simulator.scenario import Scenario, load_scenario
from simulator.world import World
from tests.builders import default_catalog
from tests.conftest import SHARED_DATA, requires_shared_data

needs_data = requires_shared_data("dialogues", "sgd_dialogues.csv.gz")


def shrink(scenario: Scenario, conversations: int, history: int = 150) -> Scenario:
    """The scenario with fewer conversations on its day and in its history."""
    return scenario.model_copy(
        update={
            "day": scenario.day.model_copy(update={"conversations": conversations}),
            "history": scenario.history.model_copy(update={"conversations": history}),
        }
    )


@pytest.fixture(scope="session")
def taxonomy() -> IntentTaxonomy:
    return IntentTaxonomy.from_classifier(IntentClassifier.load())


@pytest.fixture(scope="session")
def corpus(taxonomy: IntentTaxonomy) -> Corpus:
    return load_corpus(SHARED_DATA, taxonomy, "test")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture(scope="session")
def incident() -> Scenario:
    return load_scenario("incident")


@pytest.fixture
def world(incident: Scenario, catalog: Catalog, corpus: Corpus) -> World:
    return World(incident, catalog, corpus)


@pytest.fixture
def data_dir() -> Path:
    return SHARED_DATA
