"""Training data for the quality model: every source behind one interface.

A :class:`RoutingData` holds

- ``requests``: one row per request — ``request_id``, ``text`` (the prompt or last
  user message, may be empty), ``intent`` (a category such as an intent or an MMLU
  subject, may be empty), ``turns``, ``prompt_tokens``, ``eval`` (False for rows to keep
  out of evaluation, e.g. RouteLLM's contaminated prompts);
- ``outcomes``: one row per request × model that was tried — ``request_id``, ``model``,
  ``resolved`` (0/1), and when known ``completion_tokens``, ``cost_usd``, ``latency_ms``;
- ``models``: one row per model — ``model``, ``input_usd_per_mtok``,
  ``output_usd_per_mtok``;
- ``source`` and ``content_hash`` (SHA-256 of the files read), for the record;
- for logged decisions only: ``propensity`` and ``weight`` in ``outcomes`` (see
  below) and ``offers``, one row per request × candidate the service considered, with
  the ``expected_cost_usd`` it used; ``notes`` says what was left out and why.

Sources (:data:`SOURCES`): RouteLLM's GSM8K and MMLU (two models, full information),
ZeroEval's gsm and crux (many models, with prices), a generic table users fill from
their own logs (:func:`load_table`, documented in docs/your-data.md), and the service's own
decision log (:func:`load_decision_log`).

**Learning from logged decisions.** A decision log holds one outcome per request: the
chosen model's. The models it did not choose are missing *not at random*: the policy
that logged them chose by the request (hard requests go to strong models), so a
plain fit learns each model only on the requests the policy gave it. Each outcome is
therefore weighted by the inverse of its logged propensity (``weight`` = 1 /
propensity, capped at :data:`MAX_IPS_WEIGHT` and scaled to mean 1), which re-balances
every model's requests towards the whole traffic (importance weighting). What stays
biased: a model a request had no chance of getting (propensity 0 for it, e.g. with no
exploration at all) is learned there only by extrapolation, through its prices and
the requests it did get; the cap trades a little bias for variance; outcomes of
decisions the gateway overrode (it served another model, whose propensity is
unknown) are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.tokens import CHARS_PER_TOKEN, estimate_prompt_tokens

__all__ = [
    "DEFAULT_DATA_DIR",
    "HOLDOUT_SHARE",
    "LOG_SUFFIXES",
    "SOURCES",
    "STRONG",
    "TABLE_COLUMNS",
    "TABLE_OPTIONAL",
    "WEAK",
    "RoutingData",
    "load_decision_log",
    "load_source",
    "load_table",
    "unit_hash",
]

DEFAULT_DATA_DIR = Path("../shared/data")
HOLDOUT_SHARE = 0.2  # of requests kept out of every registered model, to compare them
MAX_IPS_WEIGHT = 50.0  # cap of 1 / propensity: a propensity under 2 % counts as 2 %

# RouteLLM's two models, with the list prices its paper uses for cost (USD / Mtok).
ROUTELLM_MODELS = pd.DataFrame(
    {
        "model": ["mixtral-8x7b-instruct", "gpt-4-1106-preview"],
        "input_usd_per_mtok": [0.24, 10.0],
        "output_usd_per_mtok": [0.24, 30.0],
    }
)
WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"


@dataclass
class RoutingData:
    requests: pd.DataFrame
    outcomes: pd.DataFrame
    models: pd.DataFrame
    source: str
    content_hash: str
    offers: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def matrix(self, column: str = "resolved") -> pd.DataFrame:
        """``column`` as a requests × models table (NaN where a model was not tried)."""
        table = self.outcomes.pivot(index="request_id", columns="model", values=column)
        return table.reindex(index=self.requests["request_id"], columns=self.models["model"])

    def subset(self, mask: np.ndarray) -> RoutingData:
        """The requests where ``mask`` is True, with their outcomes."""
        requests = self.requests[mask].reset_index(drop=True)
        ids = set(requests["request_id"])
        outcomes = self.outcomes[self.outcomes["request_id"].isin(ids)]
        offers = None
        if self.offers is not None:
            offers = self.offers[self.offers["request_id"].isin(ids)].reset_index(drop=True)
        return RoutingData(
            requests,
            outcomes.reset_index(drop=True),
            self.models,
            self.source,
            self.content_hash,
            offers,
            list(self.notes),
        )

    def holdout_mask(self, share: float = HOLDOUT_SHARE) -> np.ndarray:
        """True for the requests of the promotion hold-out: a fixed function of each
        request id, so no model trained by ``selector train`` on this source ever sees them
        and every model can be compared on them."""
        return np.array([unit_hash(str(r)) < share for r in self.requests["request_id"]])

    @property
    def full_information(self) -> bool:
        """True when every model was tried on every request (benchmarks, not logs)."""
        return len(self.outcomes) == len(self.requests) * len(self.models)

    @property
    def logged(self) -> bool:
        """True for decisions logged with their propensities (one outcome a request)."""
        return self.offers is not None and "propensity" in self.outcomes

    def offered(self, column: str = "expected_cost_usd") -> pd.DataFrame:
        """``column`` of the logged offers as a requests × models table (NaN where a
        model was not a candidate)."""
        if self.offers is None:
            raise ValueError(f"{self.source} has no logged candidates")
        table = self.offers.pivot(index="request_id", columns="model", values=column)
        return table.reindex(index=self.requests["request_id"], columns=self.models["model"])


def unit_hash(key: str) -> float:
    """A stable number in [0, 1) from ``key``.

    >>> unit_hash("q-17") == unit_hash("q-17") and 0 <= unit_hash("q-17") < 1
    True
    """
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _hash_files(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: pass --data with the folder that holds it")
    return path


def load_routellm(benchmark: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """RouteLLM's ``gsm8k`` or ``mmlu``: Mixtral-8x7B (weak) and GPT-4 (strong).

    Prompts RouteLLM found in its own training data are kept for training but marked
    ``eval = False``, as RouteLLM leaves them out of evaluation.
    """
    folder = data_dir / "routellm"
    table = _require(folder / f"{benchmark}.csv.gz")
    contaminated = _require(folder / f"{benchmark}_contaminated_prompts.jsonl")
    df = pd.read_csv(table)
    bad = {json.loads(line)["eval_prompt"] for line in contaminated.read_text().splitlines()}
    requests = pd.DataFrame(
        {
            "request_id": [f"{benchmark}-{i}" for i in range(len(df))],
            "text": df["prompt"].astype(str),
            "intent": df["subject"].astype(str) if "subject" in df else "",
            "turns": 1,
            "prompt_tokens": [estimate_prompt_tokens([t]) for t in df["prompt"].astype(str)],
            "eval": ~df["prompt"].isin(bad),
        }
    )
    rows = []
    for model, col in ((WEAK, "mixtral_correct"), (STRONG, "gpt4_correct")):
        out = pd.DataFrame(
            {
                "request_id": requests["request_id"],
                "model": model,
                "resolved": df[col].astype(float),
            }
        )
        chars = {WEAK: "mixtral_response_chars", STRONG: "gpt4_response_chars"}[model]
        if chars in df:
            out["completion_tokens"] = np.ceil(df[chars] / CHARS_PER_TOKEN)
        rows.append(out)
    return RoutingData(
        requests=requests,
        outcomes=pd.concat(rows, ignore_index=True),
        models=ROUTELLM_MODELS.copy(),
        source=f"routellm-{benchmark}",
        content_hash=_hash_files(table, contaminated),
    )


def load_zeroeval(task: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """ZeroEval's ``gsm`` or ``crux``: every model on every item, priced from
    ``prices.csv``. Token counts are estimated from characters (4 a token); hidden
    reasoning tokens of o1 models are not in the data."""
    folder = data_dir / "zeroeval"
    table = _require(folder / "zeroeval_gsm_crux.csv.gz")
    prices_path = _require(folder / "prices.csv")
    df = pd.read_csv(table)
    df = df[df["task"] == task]
    if df.empty:
        raise ConfigError(f"ZeroEval has no task {task!r}: use gsm or crux")
    prices = pd.read_csv(prices_path)
    df = df[df["model"].isin(prices["model"])]
    items = df.drop_duplicates("id")[["id", "question"]].reset_index(drop=True)
    requests = pd.DataFrame(
        {
            "request_id": items["id"].astype(str),
            "text": items["question"].astype(str),
            "intent": task,
            "turns": 1,
            "prompt_tokens": [estimate_prompt_tokens([t]) for t in items["question"].astype(str)],
            "eval": True,
        }
    )
    prompt_tokens = requests.set_index("request_id")["prompt_tokens"]
    price = prices.set_index("model")
    out = pd.DataFrame(
        {
            "request_id": df["id"].astype(str).to_numpy(),
            "model": df["model"].to_numpy(),
            "resolved": df["correct"].astype(float).to_numpy(),
            "completion_tokens": np.ceil(df["output_chars"].to_numpy() / CHARS_PER_TOKEN),
        }
    )
    out["cost_usd"] = (
        out["request_id"].map(prompt_tokens) * out["model"].map(price["input_usd_per_mtok"])
        + out["completion_tokens"] * out["model"].map(price["output_usd_per_mtok"])
    ) / 1e6
    models = prices[prices["model"].isin(out["model"].unique())].reset_index(drop=True)
    return RoutingData(requests, out, models, f"zeroeval-{task}", _hash_files(table, prices_path))


TABLE_COLUMNS = {
    "request_id": "identifies the request (several rows per request: one per model tried)",
    "model": "the model that answered",
    "resolved": "1 when it resolved the request (or answered correctly), else 0",
}
TABLE_OPTIONAL = {
    "text": "prompt or last user message",
    "intent": "intent or another category of the request",
    "turns": "conversation turns",
    "prompt_tokens": "prompt tokens (else estimated from text)",
    "completion_tokens": "completion tokens",
    "cost_usd": "cost of the call",
    "latency_ms": "latency of the call",
    "input_usd_per_mtok": "the model's price per million prompt tokens",
    "output_usd_per_mtok": "the model's price per million completion tokens",
}
TABLE_NUMERIC = [c for c in TABLE_OPTIONAL if c not in ("text", "intent")]


def load_table(path: Path) -> RoutingData:
    """A user's own outcomes: CSV or Parquet with one row per request × model tried.

    Required columns: ``request_id``, ``model``, ``resolved`` (0/1 or true/false);
    optional: see :data:`TABLE_OPTIONAL`. A bad value is an error naming its row
    (1-based, as a spreadsheet shows it, header = row 1) and column.
    """
    _require(path)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if {"decision_id", "propensity"} <= set(df.columns):  # written by `selector export-log`
        return _from_joined_log(df, path)
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{path.name}: missing column(s) {missing}; required: {list(TABLE_COLUMNS)}"
        )

    def bad(row: int, column: str, problem: str) -> ConfigError:
        return ConfigError(f"{path.name}: row {row + 2}, column {column!r}: {problem}")

    resolved = df["resolved"].map(_as_flag)
    for i in np.flatnonzero(resolved.isna().to_numpy())[:1]:
        raise bad(i, "resolved", f"{df['resolved'].iloc[i]!r} is not 0/1 or true/false")
    for column in ("request_id", "model"):
        for i in np.flatnonzero(df[column].isna().to_numpy())[:1]:
            raise bad(i, column, "empty")
    for column in TABLE_NUMERIC:
        if column in df:
            values = pd.to_numeric(df[column], errors="coerce")
            wrong = (values.isna() & df[column].notna()) | (values < 0)
            for i in np.flatnonzero(wrong.to_numpy())[:1]:
                raise bad(i, column, f"{df[column].iloc[i]!r} is not a number ≥ 0")
            df[column] = values
    dupes = df.duplicated(["request_id", "model"])
    for i in np.flatnonzero(dupes.to_numpy())[:1]:
        raise bad(i, "model", "this request already has an outcome for this model")
    df = df.assign(resolved=resolved, request_id=df["request_id"].astype(str))
    text = df["text"].fillna("").astype(str) if "text" in df else pd.Series("", index=df.index)
    first = df.assign(text=text).drop_duplicates("request_id")
    requests = pd.DataFrame(
        {
            "request_id": first["request_id"].to_numpy(),
            "text": first["text"].to_numpy(),
            "intent": first["intent"].fillna("").astype(str).to_numpy() if "intent" in df else "",
            "turns": first["turns"].fillna(1).to_numpy() if "turns" in df else 1,
            "eval": True,
        }
    )
    if "prompt_tokens" in df:
        requests["prompt_tokens"] = first["prompt_tokens"].to_numpy()
    else:
        requests["prompt_tokens"] = [estimate_prompt_tokens([t]) for t in requests["text"]]
    keep = ["request_id", "model", "resolved"] + [
        c for c in ("completion_tokens", "cost_usd", "latency_ms") if c in df
    ]
    price_cols = [c for c in ("input_usd_per_mtok", "output_usd_per_mtok") if c in df]
    models = df.groupby("model", sort=True)[price_cols].first().reset_index()
    for c in ("input_usd_per_mtok", "output_usd_per_mtok"):
        if c not in models:
            models[c] = 0.0
    return RoutingData(
        requests, df[keep].reset_index(drop=True), models, f"table:{path.name}", _hash_files(path)
    )


def _as_flag(value: object) -> float:
    """1.0 / 0.0 for 1, 0, true, false (any case, as number or text); NaN otherwise."""
    text = str(value).strip().lower()
    return {"1": 1.0, "1.0": 1.0, "true": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0}.get(text, np.nan)


LOG_SUFFIXES = {".db", ".sqlite", ".sqlite3"}


def load_decision_log(path: Path) -> RoutingData:
    """The service's own decisions with their outcomes: its SQLite decision log
    (``selector.db``) or a file written by ``selector export-log``.

    One outcome per decision, the chosen model's, weighted by its logged propensity
    (see the module docstring for the method and its bias). The label is ``resolved``;
    a decision with only a ``reward`` counts as resolved when the reward is ≥ 0.5.
    Decisions without an outcome yet, and those the gateway overrode, are left out and
    counted in ``notes``.
    """
    _require(path)
    if path.suffix in LOG_SUFFIXES:
        from selector.store import DecisionLog

        with DecisionLog(path).reader() as reader:
            frame = pd.DataFrame.from_records(list(reader.joined()))
    else:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return _from_joined_log(frame, path)


def _from_joined_log(frame: pd.DataFrame, path: Path) -> RoutingData:
    from features.schema import CANDIDATE_FEATURES

    need = ["decision_id", "model", "propensity", "candidate_features", "resolved", "reward"]
    missing = [c for c in need if c not in frame.columns]
    if frame.empty or missing:
        raise ConfigError(
            f"{path.name}: "
            + (f"missing column(s) {missing}" if missing else "no decisions in the log")
            + ": train from the SQLite decision log or a file written by `selector export-log`"
        )
    total = len(frame)
    label = frame["resolved"].map(lambda v: np.nan if pd.isna(v) else _as_flag(v))
    reward = pd.to_numeric(frame["reward"], errors="coerce")
    label = label.where(label.notna(), (reward >= 0.5).astype(float).where(reward.notna()))
    override = frame["override"].map(_as_flag).fillna(0.0) > 0 if "override" in frame else False
    keep = label.notna() & ~override
    prop = pd.to_numeric(frame["propensity"], errors="coerce")
    bad = keep & ~((prop > 0) & (prop <= 1))
    for i in np.flatnonzero(bad.to_numpy())[:1]:
        raise ConfigError(
            f"{path.name}: decision {frame['decision_id'].iloc[i]}: propensity "
            f"{frame['propensity'].iloc[i]!r} is not in (0, 1]: the log is damaged"
        )
    notes = []
    if (n := int(label.isna().sum())) > 0:
        notes.append(f"{n} of {total} decisions have no outcome yet and are left out")
    if (n := int((label.notna() & override).sum())) > 0:
        notes.append(f"{n} decisions the gateway overrode (another model served) are left out")
    df = frame[keep].reset_index(drop=True)
    if df.empty:
        raise ConfigError(
            f"{path.name}: none of its {total} decisions has an outcome: report `resolved` "
            "or `reward` through POST /v1/feedback"
        )
    label, prop = label[keep].reset_index(drop=True), prop[keep].reset_index(drop=True)
    text = df["text"].fillna("").astype(str) if "text" in df else pd.Series("", index=df.index)
    ids = df["decision_id"].astype(str)
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "text": text,
            "intent": df["intent"].fillna("").astype(str) if "intent" in df else "",
            "turns": pd.to_numeric(df.get("f_turns", 1), errors="coerce"),
            "prompt_tokens": pd.to_numeric(df.get("f_prompt_tokens", 0), errors="coerce"),
            "eval": True,
        }
    ).fillna({"turns": 1, "prompt_tokens": 0})
    weight = np.minimum(1.0 / prop.to_numpy(float), MAX_IPS_WEIGHT)
    outcomes = pd.DataFrame(
        {
            "request_id": ids,
            "model": df["model"].astype(str),
            "resolved": label.to_numpy(float),
            "propensity": prop.to_numpy(float),
            "weight": weight / weight.mean(),
        }
    )
    for column in ("completion_tokens", "cost_usd", "latency_ms"):
        if column in df:
            outcomes[column] = pd.to_numeric(df[column], errors="coerce").to_numpy()
    col = {name: i for i, (name, _) in enumerate(CANDIDATE_FEATURES)}
    offers, prices = [], {}
    # the expected cost the policy weighed: its scores' (a trained model may estimate the
    # completion length), else the feature's (the catalog's estimate)
    scores = df["scores"] if "scores" in df else pd.Series("[]", index=df.index)
    for rid, blob, scored in zip(ids, df["candidate_features"], scores, strict=True):
        used = {s["model"]: s["expected_cost_usd"] for s in json.loads(scored or "[]")}
        for model, row in json.loads(blob).items():
            cost = used.get(model, row[col["expected_cost_usd"]])
            offers.append((rid, model, float(cost)))
            prices[model] = (row[col["input_usd_per_mtok"]], row[col["output_usd_per_mtok"]])
    models = pd.DataFrame(
        [(m, float(i), float(o)) for m, (i, o) in sorted(prices.items())],
        columns=["model", "input_usd_per_mtok", "output_usd_per_mtok"],
    )
    return RoutingData(
        requests,
        outcomes,
        models,
        f"log:{path.name}",
        _hash_files(path),
        pd.DataFrame(offers, columns=["request_id", "model", "expected_cost_usd"]),
        notes,
    )


SOURCES: dict[str, Callable[[Path], RoutingData]] = {
    "routellm-gsm8k": lambda d: load_routellm("gsm8k", d),
    "routellm-mmlu": lambda d: load_routellm("mmlu", d),
    "zeroeval-gsm": lambda d: load_zeroeval("gsm", d),
    "zeroeval-crux": lambda d: load_zeroeval("crux", d),
}


def load_source(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """A named source from :data:`SOURCES`, a decision log (``.db``), or a path to a
    table (CSV/Parquet): an export of the decision log or a user's outcome table."""
    if name in SOURCES:
        return SOURCES[name](data_dir)
    path = Path(name)
    if path.suffix in LOG_SUFFIXES:
        return load_decision_log(path)
    if path.suffix in {".csv", ".parquet"} or path.exists():
        return load_table(path)
    raise ConfigError(
        f"unknown data source {name!r}: use one of {sorted(SOURCES)}, a decision log (.db) "
        "or a .csv/.parquet path"
    )
