"""Does OPE's doubly robust interval cover the truth? :func:`dr_coverage` logs choices
from a world whose mean rewards are known exactly and estimates two policies' values
with the estimators of ``selector ope``, many times over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from selector.online.bandit import squarecb
from simulator.replay import Turn
from simulator.routers import OracleRouter
from simulator.world import Conversation, Load, World
from training.ope import cross_fit, estimate_all

__all__ = ["dr_coverage"]


def _turns(world: World, day: list[Conversation], decisions: int) -> list[Turn]:
    """The first ``decisions`` user turns of ``day``."""
    sc = world.scenario
    first_model = next(iter(world.models))
    turns: list[Turn] = []
    for c in day:
        t, prompt = c.start_s, sc.conversation.system_prompt_tokens
        for k in range(1, c.user_turns + 1):
            prompt += c.user_tokens
            turns.append(Turn(c, k, prompt, t))
            prompt += int(sc.models[first_model].completion_tokens)
            t += float(c.think_s[k - 1])
    return sorted(turns, key=lambda x: x.t)[:decisions]


def _reward_features(turns: list[Turn], groups: list[str], view: np.ndarray) -> np.ndarray:
    """What the reward model sees, as a log holds it: the model, intent group, turn and
    the logging policy's estimate (not the truth); one row per turn × model."""
    n, k = view.shape
    g = np.array([groups.index(x.conversation.group) for x in turns])
    return np.column_stack(
        [
            np.tile(np.eye(k), (n, 1)),
            np.repeat(np.eye(len(groups))[g], k, axis=0),
            view.reshape(-1),
            np.repeat([x.user_turn for x in turns], k),
        ]
    )


def _summary(
    found: list[tuple[float, float, float, float]], truth: float, agreement: float
) -> dict[str, float]:
    v = np.asarray(found)
    return {
        "true_value": truth,
        "agreement_with_logged_greedy": agreement,
        "coverage": float(((v[:, 1] <= truth) & (truth <= v[:, 2])).mean()),
        "mean_estimate": float(v[:, 0].mean()),
        "sd_of_estimates": float(v[:, 0].std()),
        "mean_interval_width": float((v[:, 2] - v[:, 1]).mean()),
        "mean_ess": float(v[:, 3].mean()),
    }


def _replicates(
    mu: np.ndarray,
    good: np.ndarray,
    probs: np.ndarray,
    features: np.ndarray,
    targets: dict[str, np.ndarray],
    replicates: int,
    seed: int,
    progress: Callable[[int], None],
) -> dict[str, list[tuple[float, float, float, float]]]:
    """(DR value, low, high, ESS) of each target policy in each replicate: the logged
    choices drawn from ``probs`` and their rewards anew each time."""
    n, k = mu.shape
    rows = np.arange(n)
    decision_of_row = np.repeat(rows, k)
    found: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t in targets}
    for r in range(replicates):
        rr = np.random.default_rng(seed + 1 + r)
        chosen = np.array([rr.choice(k, p=p / p.sum()) for p in probs])
        # the realised reward: the mean reward with a drawn good answer for P(good)
        reward = mu[rows, chosen] - good[rows, chosen] + (rr.random(n) < good[rows, chosen])
        q = cross_fit(features, reward, rows * k + chosen, decision_of_row, seed=seed + r)
        for name, target in targets.items():
            est = estimate_all(
                probs[rows, chosen],
                (target == chosen).astype(float),
                reward,
                q[rows * k + chosen],
                q.reshape(n, k)[rows, target],
                min_ess=1.0,
            )
            dr = est["dr"]
            found[name].append((dr["value"], dr["low"], dr["high"], est["ess"]))
        progress(1)
    return found


def dr_coverage(
    world: World,
    replicates: int = 50,
    decisions: int = 4_000,
    seed: int = 0,
    gamma: float = 2_000.0,
    floor: float = 0.2,
    progress: Callable[[int], None] = lambda _n: None,
) -> dict[str, Any]:
    """How often DR's 95 % interval covers the true value of known policies.

    The day's first ``decisions`` user turns are the contexts. Each model's true mean
    reward on a turn comes from the world (:meth:`OracleRouter.expected_reward`, at the
    background load). A logging policy explores with SquareCB (``gamma``, ``floor``)
    over the truth plus fixed noise (an imperfect model). Two target policies, whose
    true values are known exactly: ``greedy`` (the logging policy without exploring)
    and ``other model`` (greedy on the truth plus other noise: a policy that disagrees
    with the log on most turns). Each replicate draws the logged choices and their
    rewards (good answers) anew and estimates both values with the same estimators and
    cross-fitted reward model as ``selector ope``.
    """
    oracle = OracleRouter(world, Load(world.scenario.load_window_s))
    models = list(world.models)
    day = world.traffic()
    turns = _turns(world, day, decisions)
    n = len(turns)
    rows = np.arange(n)
    mu = np.array([[oracle.expected_reward(m, x) for m in models] for x in turns])
    good = np.array(
        [[world.p_good(m, x.conversation.group, x.user_turn, x.t) for m in models] for x in turns]
    )
    rng = np.random.default_rng(seed)
    logging_view = mu + rng.normal(0.0, 0.02, mu.shape)  # what the logging policy believes
    probs = np.array([squarecb(list(row), gamma, floor) for row in logging_view])
    targets = {
        "greedy": np.argmax(logging_view, axis=1),
        "other model": np.argmax(mu + rng.normal(0.0, 0.02, mu.shape), axis=1),
    }
    groups = sorted({c.group for c in day})
    features = _reward_features(turns, groups, logging_view)
    found = _replicates(mu, good, probs, features, targets, replicates, seed, progress)
    return {
        "replicates": replicates,
        "decisions": n,
        "logging": {"gamma": gamma, "floor": floor},
        "targets": {
            name: _summary(
                found[name],
                float(mu[rows, target].mean()),
                float((target == targets["greedy"]).mean()),
            )
            for name, target in targets.items()
        },
    }
