"""Real objects built from the default catalog, for unit tests."""

from __future__ import annotations

from features.extractor import FeatureExtractor
from features.intents import IntentClassifier, IntentTaxonomy
from models.prior import PriorQualityModel, load_prior
from selector.catalog import Catalog, load_catalog
from selector.config import PACKAGE_DIR
from selector.latency import BreakerConfig, LatencyTracker


def default_catalog() -> Catalog:
    return load_catalog(PACKAGE_DIR / "catalog.yaml")


class Parts:
    """Catalog, classifier, taxonomy, tracker, extractor and prior, wired as the service does."""

    def __init__(self, with_classifier: bool = True, clock: object = None) -> None:
        self.catalog = default_catalog()
        self.classifier = IntentClassifier.load()
        self.taxonomy = IntentTaxonomy.from_classifier(self.classifier)
        kwargs = {"clock": clock} if clock is not None else {}
        self.tracker = LatencyTracker(
            {m.name: m.latency_slo_ms for m in self.catalog},
            BreakerConfig(min_samples=5),
            **kwargs,  # type: ignore[arg-type]
        )
        self.extractor = FeatureExtractor(
            self.catalog.candidate_infos(350),
            self.taxonomy,
            self.classifier if with_classifier else None,
            self.tracker,
        )
        self.quality = PriorQualityModel(
            load_prior(), self.taxonomy.group_names, self.catalog.names
        )
        self.providers = {m.name: m.provider for m in self.catalog}
