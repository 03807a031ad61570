"""A small world over the built-in incident scenario and the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.intents import IntentClassifier, IntentTaxonomy
from selector.catalog import Catalog
from selector.config import load_settings
from simulator.corpus import Corpus, load_corpus
from simulator.loopback import SimClock, serve_on_loopback
from simulator.replay import ReplayResult, replay
from simulator.routers import ServiceRouter
from simulator.scenario import Scenario, load_scenario
from simulator.world import Conversation, World
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


def through_the_service(
    world: World, day: list[Conversation], db_path: Path
) -> tuple[ReplayResult, float]:
    """``day`` replayed through the real service on loopback (prior quality model, its
    log at ``db_path``), and the service's clock at the end."""
    clock = SimClock()
    settings = load_settings(db_path=db_path, quality_model="prior")
    with serve_on_loopback(settings, clock) as server:
        gw = world.scenario.gateway
        router = ServiceRouter(
            "selector", server.host, server.port, gw.deadline_ms, clock.set, None, gw.budget_usd
        )
        try:
            return replay(world, day, router), clock()
        finally:
            router.close()
