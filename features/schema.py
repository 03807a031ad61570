"""The feature schema: one definition of the vector that serving and training share.

A request becomes one *request block* (features of the conversation) and, for each
candidate LLM, one *candidate block* (its price, fit and live health). Training rows
are ``request block + candidate block`` of the model that answered, so a model that
joins the catalog gets features like every other.

Bump ``SCHEMA_VERSION`` whenever a name, an order or a meaning changes.
"""

from __future__ import annotations

__all__ = [
    "CANDIDATE_FEATURES",
    "PRIORITIES",
    "REQUEST_FEATURES",
    "SCHEMA_VERSION",
    "TIER_CODES",
    "schema_markdown",
]

SCHEMA_VERSION = 1

PRIORITIES: dict[str, int] = {"low": 0, "normal": 1, "high": 2}
TIER_CODES: dict[str, int] = {"small": 0, "medium": 1, "large": 2}

REQUEST_FEATURES: tuple[tuple[str, str], ...] = (
    ("turns", "messages by user or assistant in the conversation (or the `turns` sent)"),
    ("user_turns", "messages by the user (ceil(turns / 2) when only `turns` is sent)"),
    ("prompt_tokens", "prompt tokens: as sent, else estimated (features/tokens.py)"),
    ("prompt_tokens_estimated", "1 when prompt_tokens was estimated, 0 when sent"),
    ("last_user_chars", "characters in the last user message (0 without messages)"),
    ("intent_id", "categorical: id of the intent in the taxonomy, 0 = other"),
    ("intent_group_id", "categorical: id of the intent's group, 0 = other"),
    ("intent_confidence", "classifier probability of the intent; 1 when the intent was sent"),
    ("intent_given", "1 when the request named the intent, 0 when it was classified"),
    ("escalation", "1 when the conversation is flagged as an escalation"),
    ("priority", "0 low, 1 normal, 2 high"),
    ("n_candidates", "number of candidate models considered"),
)

CANDIDATE_FEATURES: tuple[tuple[str, str], ...] = (
    ("tier", "0 small, 1 medium, 2 large (catalog)"),
    ("input_usd_per_mtok", "list price of a million prompt tokens"),
    ("output_usd_per_mtok", "list price of a million completion tokens"),
    (
        "expected_cost_usd",
        "prompt tokens × input price + expected completion × output price; the prefix "
        "cached on the model that served the previous turn at its cached price",
    ),
    ("context_window", "largest prompt + completion in tokens"),
    ("fits_context", "1 when prompt + expected completion fit the context window"),
    (
        "latency_p50_ms",
        "p50 latency: the catalog prior shrunk toward the calls seen (features/estimates.py); "
        "the window's p50 once it holds enough calls",
    ),
    ("latency_p95_ms", "p95 latency, the same way (2 × the prior p50 before any call)"),
    (
        "error_rate",
        "share of failed calls: a prior of 1 % shrunk toward the calls seen; the window's "
        "share once it holds enough calls",
    ),
    ("latency_samples", "calls behind the live figures (0: priors in use)"),
    ("circuit_state", "0 closed, 1 half-open, 2 open"),
    ("latency_slo_ms", "the model's p95 latency objective (catalog)"),
)


def schema_markdown() -> str:
    """The schema as a Markdown table, for the README and ``selector schema``."""
    lines = [f"Feature schema version {SCHEMA_VERSION}.", "", "| block | # | name | meaning |"]
    lines.append("|---|---|---|---|")
    for block, feats in (("request", REQUEST_FEATURES), ("candidate", CANDIDATE_FEATURES)):
        for i, (name, doc) in enumerate(feats):
            lines.append(f"| {block} | {i} | `{name}` | {doc} |")
    return "\n".join(lines)
