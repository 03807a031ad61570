"""The public benchmarks: RouteLLM's GSM8K and MMLU (two models, full information) and
ZeroEval's gsm and crux (many models, with prices)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.tokens import CHARS_PER_TOKEN, estimate_prompt_tokens
from training.data.routing import (
    DEFAULT_DATA_DIR,
    ROUTELLM_MODELS,
    STRONG,
    WEAK,
    RoutingData,
    hash_files,
    require,
)

__all__ = ["load_routellm", "load_zeroeval"]


def load_routellm(benchmark: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """RouteLLM's ``gsm8k`` or ``mmlu``: Mixtral-8x7B (weak) and GPT-4 (strong).

    Prompts RouteLLM found in its own training data are kept for training but marked
    ``eval = False``, as RouteLLM leaves them out of evaluation.
    """
    folder = data_dir / "routellm"
    table = require(folder / f"{benchmark}.csv.gz")
    contaminated = require(folder / f"{benchmark}_contaminated_prompts.jsonl")
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
        content_hash=hash_files(table, contaminated),
    )


def load_zeroeval(task: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """ZeroEval's ``gsm`` or ``crux``: every model on every item, priced from
    ``prices.csv``. Token counts are estimated from characters (4 a token); hidden
    reasoning tokens of o1 models are not in the data."""
    folder = data_dir / "zeroeval"
    table = require(folder / "zeroeval_gsm_crux.csv.gz")
    prices_path = require(folder / "prices.csv")
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
    return RoutingData(requests, out, models, f"zeroeval-{task}", hash_files(table, prices_path))
