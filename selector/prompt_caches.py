"""Which model holds each conversation's prefix in its prompt cache.

A support conversation sends its whole history again every turn. A provider that
caches prompts bills the prefix its previous call was sent at a fraction of the input
price (the catalog's ``cached_input_usd_per_mtok``), but only on the model that served
that call, for as long as the cache lives (``cache_lifetime_s``), and only when the
prefix is long enough (``cache_min_tokens``). :class:`PromptCaches` remembers, for
each recent conversation, the model that last served it, the prompt tokens it was sent
and when, and hands the next turn's decision a :class:`~features.extractor.CachedPrefix`
so that the feature extractor prices that model's prompt with the prefix cached and
every other model's at the full rate.

What it learns from:

- a decision: its chosen model is taken to serve (the gateway calls it at once);
- a call result: the model that answered (a fallback's, when the chosen one failed)
  holds the prefix from the time the result arrives, with the ``prompt_tokens`` it
  reports; a failed call of the chosen model gives the conversation back the cache it
  had before the decision;
- ``cached_tokens`` in a call result: the share of the prefix priced as cached that the
  provider reports it read from the cache, per model (a moving average starting at 1).
  A provider that caches less than the catalog says (a shorter lifetime, a prefix
  marked for caching by the caller only) is soon priced as it bills.

It is the memory of one process, bounded at ``SELECTOR_PROMPT_CACHE_CONVERSATIONS``
conversations (the least recently decided are forgotten first, and with them their
discount): a replica does not see the conversations another decided.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from features.extractor import CachedPrefix

__all__ = ["PromptCaches"]

_SHARE_MEMORY = 0.1  # weight of one call result in a model's reported share
_SHARE_MIN = 0.05  # a share never falls below it, so a cache that starts working is seen


@dataclass(slots=True)
class _Entry:
    """Where a conversation's prefix is cached (``model`` empty: nowhere), and what its
    last decision expected."""

    model: str
    tokens: int
    at: float
    decision_id: str
    chosen: str  # the decision's model
    prompt: int  # the decision's prompt tokens
    priced: float  # of them, cached on ``chosen`` before its share was applied
    before: tuple[str, int, float] | None  # the cache before the decision (model, tokens, at)


class PromptCaches:
    """The last model that served each recent conversation (see the module docstring)."""

    def __init__(self, max_conversations: int = 100_000) -> None:
        self.max_conversations = max_conversations
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._decisions: OrderedDict[str, str] = OrderedDict()  # decision → conversation
        self.shares: dict[str, float] = {}  # per model: cached tokens reported / priced

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, conversation_id: str, now: float) -> CachedPrefix | None:
        """Where ``conversation_id``'s prefix may be cached at ``now`` (None: nowhere
        known)."""
        e = self._entries.get(conversation_id)
        if e is None or not e.model:
            return None
        share = self.shares.get(e.model, 1.0)
        return CachedPrefix(e.model, e.tokens, max(0.0, now - e.at), share)

    def decided(
        self,
        decision_id: str,
        conversation_id: str,
        model: str,
        prompt_tokens: float,
        priced: float,
        now: float,
    ) -> None:
        """A decision sent ``conversation_id``'s turn, ``prompt_tokens`` long, to
        ``model``, pricing ``priced`` of its tokens as cached there."""
        old = self._entries.pop(conversation_id, None)
        before = None if old is None or not old.model else (old.model, old.tokens, old.at)
        tokens = int(prompt_tokens)
        full = priced / self.shares.get(model, 1.0)
        self._entries[conversation_id] = _Entry(
            model, tokens, now, decision_id, model, tokens, full, before
        )
        self._decisions[decision_id] = conversation_id
        while len(self._entries) > self.max_conversations:
            self._entries.popitem(last=False)
        while len(self._decisions) > self.max_conversations:
            self._decisions.popitem(last=False)

    def _entry_of(self, decision_id: str) -> _Entry | None:
        conversation_id = self._decisions.get(decision_id)
        if conversation_id is None:
            return None
        e = self._entries.get(conversation_id)
        if e is None or e.decision_id != decision_id:
            return None  # a later turn was decided since: it knows better
        return e

    def served(
        self,
        decision_id: str,
        model: str,
        prompt_tokens: int | None,
        cached_tokens: int | None,
        now: float,
    ) -> None:
        """A call of ``decision_id``'s turn answered on ``model``; ``cached_tokens``:
        what the provider reports it read from its cache (None: not reported)."""
        e = self._entry_of(decision_id)
        if e is None:
            return
        if cached_tokens is not None and e.priced > 0 and model == e.chosen:
            seen = min(1.0, cached_tokens / e.priced)
            old = self.shares.get(model, 1.0)
            self.shares[model] = max(_SHARE_MIN, old + _SHARE_MEMORY * (seen - old))
        e.model, e.at, e.before = model, now, None
        e.tokens = e.prompt if prompt_tokens is None else prompt_tokens

    def failed(self, decision_id: str, model: str) -> None:
        """A call of ``decision_id``'s turn on ``model`` failed: it wrote no cache, and
        the conversation's prefix is cached where it was before the decision."""
        e = self._entry_of(decision_id)
        if e is None or e.model != model:
            return
        e.model, e.tokens, e.at = e.before or ("", 0, 0.0)
        e.before = None
