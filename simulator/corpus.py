"""The real data a simulated day is shaped by (:class:`Corpus`): SGD's dialogue shapes,
BANKING77's opening messages and intents, and SGD's opening messages for intents the
selector's classifier never saw (restaurants, flights, events...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.intents import IntentTaxonomy

__all__ = ["Corpus", "load_corpus"]


@dataclass(frozen=True)
class Corpus:
    """The real data the traffic is shaped by."""

    user_turns: np.ndarray  # SGD: user turns of each dialogue
    user_chars: np.ndarray  # SGD: mean characters of its user messages
    texts: list[str]  # BANKING77 utterances
    intents: list[str]  # and their intents
    groups: list[str]  # and the intents' groups
    unseen_texts: list[str] = field(default_factory=list)  # SGD's opening messages
    unseen_domains: list[str] = field(default_factory=list)  # and their services


def _unseen(sgd: pd.DataFrame, split: str) -> tuple[list[str], list[str]]:
    """The opening messages of SGD's dialogues (``train`` for history; ``dev`` and
    ``test`` for the day), whose intents the classifier never saw (it is trained on
    BANKING77 and CLINC150), and each one's service (``Restaurants_2`` → ``Restaurants``)."""
    rows = sgd[sgd["split"].isin(["train"] if split == "train" else ["dev", "test"])]
    rows = rows[rows["first_user_utterance"].notna()]
    services = rows["services"].astype(str).str.split(r"[,;| ]").str[0]
    return (
        [str(t) for t in rows["first_user_utterance"]],
        [str(v) for v in services.str.replace(r"_\d+$", "", regex=True)],
    )


def load_corpus(data_dir: Path, taxonomy: IntentTaxonomy, split: str) -> Corpus:
    """SGD dialogue shapes and one BANKING77 split (``train`` for history, ``test`` for
    the replayed day: the intent classifier was trained on ``train``)."""
    sgd = data_dir / "dialogues" / "sgd_dialogues.csv.gz"
    banking = data_dir / "intents" / f"banking77_{split}.csv"
    for path in (sgd, banking):
        if not path.exists():
            raise ConfigError(
                f"{path} not found: the simulator reads the shared public data; "
                "pass --data DIR (the folder holding dialogues/ and intents/)"
            )
    d = pd.read_csv(
        sgd, usecols=["split", "services", "n_user_turns", "user_chars", "first_user_utterance"]
    )
    b = pd.read_csv(banking)
    intents = [str(c) for c in b["category"]]
    unseen_texts, unseen_domains = _unseen(d, split)
    return Corpus(
        user_turns=d["n_user_turns"].to_numpy(int),
        user_chars=(d["user_chars"] / d["n_user_turns"]).to_numpy(float),
        texts=[str(t) for t in b["text"]],
        intents=intents,
        groups=[taxonomy.group_of.get(taxonomy.resolve(i)[0], "other") for i in intents],
        unseen_texts=unseen_texts,
        unseen_domains=unseen_domains,
    )
