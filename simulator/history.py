"""A training history from the simulated world: past conversations, every model's answer
to every turn graded (as a team grades a sample of past traffic against each candidate).

The result is the generic outcomes table of ``selector train --source FILE`` (one row
per request × model: ``request_id``, ``model``, ``resolved``, ``text``, ``intent``,
``turns``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``latency_ms`` and the
model's prices). ``intent`` is what the service's classifier makes of the message, as
the service's own decision log would hold it; the world's true intent stays hidden.
The history is the world before the scenario's day: its ``events`` (a slowdown, a
regression) have not happened yet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.intents import IntentClassifier
from simulator.world import World
from training.data import TABLE_COLUMNS

__all__ = ["history_table"]

# the columns of an outcome table (training.data) the history fills, in its order
HISTORY_COLUMNS = (
    *TABLE_COLUMNS,
    *("text", "intent", "turns", "prompt_tokens", "completion_tokens", "cost_usd"),
    *("latency_ms", "input_usd_per_mtok", "output_usd_per_mtok"),
)


def history_table(
    world: World,
    classifier: IntentClassifier | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> pd.DataFrame:
    """Every turn of the history's conversations × every model, with its outcome."""
    world = World(world.scenario.model_copy(update={"events": []}), world.catalog, world.corpus)
    sc = world.scenario
    convs = world.traffic(
        seed=sc.seed + sc.history.seed_offset, conversations=sc.history.conversations
    )
    labels: dict[str, str] = {}
    rows: dict[str, list[object]] = {k: [] for k in HISTORY_COLUMNS}
    mix = np.random.default_rng([sc.seed + sc.history.seed_offset, 2])
    for c in convs:
        if classifier is not None and c.text not in labels:
            labels[c.text] = classifier.predict(c.text)[0]
        intent = labels.get(c.text, c.intent)
        context = sc.conversation.system_prompt_tokens
        for k in range(1, c.user_turns + 1):
            prompt = context + c.user_tokens
            t = c.start_s + float(c.think_s[: k - 1].sum())
            lengths = []
            for model in world.models:
                col = world.column[model]
                load = world.load(model, 0.0, t)
                completion = world.completion_tokens(model, float(c.z_length[k - 1, col]))
                lengths.append(completion)
                spec = world.catalog[model]
                rows["request_id"].append(f"{c.id}-t{k}")
                rows["model"].append(model)
                rows["resolved"].append(int(c.u_good[k - 1] < world.p_good(model, c.group, k, t)))
                rows["text"].append(c.text)
                rows["intent"].append(intent)
                rows["turns"].append(2 * k - 1)
                rows["prompt_tokens"].append(prompt)
                rows["completion_tokens"].append(completion)
                rows["cost_usd"].append(world.cost_usd(model, prompt, completion))
                rows["latency_ms"].append(
                    world.latency_ms(model, prompt, load, float(c.z_latency[k - 1, col]), t)
                )
                rows["input_usd_per_mtok"].append(spec.input_usd_per_mtok)
                rows["output_usd_per_mtok"].append(spec.output_usd_per_mtok)
            # the conversation goes on with one of the answers, as a mixed history would
            context = prompt + lengths[int(mix.integers(len(lengths)))]
        progress(1)
    return pd.DataFrame(rows)
