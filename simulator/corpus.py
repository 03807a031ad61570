"""The real data a simulated day is shaped by (:class:`Corpus`): SGD's dialogue shapes,
BANKING77's opening messages and intents, and CLINC150's utterances for intents the
selector's classifier never saw."""

from __future__ import annotations

import json
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
    unseen_texts: list[str] = field(default_factory=list)  # CLINC150 utterances
    unseen_domains: list[str] = field(default_factory=list)  # and their domains


def _clinc(data_dir: Path, split: str) -> tuple[list[str], list[str]]:
    """CLINC150's utterances of one split (``train`` or ``test``), out-of-scope ones
    included (domain ``out_of_scope``), and each one's domain."""
    folder = data_dir / "intents"
    full, domains = folder / "clinc150_data_full.json", folder / "clinc150_domains.json"
    if not (full.exists() and domains.exists()):
        return [], []
    data = json.loads(full.read_text(encoding="utf-8"))
    domain_of = {
        i: d
        for d, intents in json.loads(domains.read_text(encoding="utf-8")).items()
        for i in intents
    }
    rows = data[split] + data[f"oos_{split}"]
    return [str(t) for t, _ in rows], [domain_of.get(i, "out_of_scope") for _, i in rows]


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
    d = pd.read_csv(sgd, usecols=["n_user_turns", "user_chars"])
    b = pd.read_csv(banking)
    intents = [str(c) for c in b["category"]]
    unseen_texts, unseen_domains = _clinc(data_dir, split)
    return Corpus(
        user_turns=d["n_user_turns"].to_numpy(int),
        user_chars=(d["user_chars"] / d["n_user_turns"]).to_numpy(float),
        texts=[str(t) for t in b["text"]],
        intents=intents,
        groups=[taxonomy.group_of.get(taxonomy.resolve(i)[0], "other") for i in intents],
        unseen_texts=unseen_texts,
        unseen_domains=unseen_domains,
    )
