"""Prompt-token estimate for a conversation when the gateway does not send one.

Estimator (documented in the README, shared by serving and training):

- with messages: ``sum(ceil(chars / 4) + 4 for each message) + 3``. Four characters a
  token is the usual rule of thumb for English text with BPE tokenizers; the
  4 tokens a message and 3 a prompt are the chat template's framing (role markers,
  separators, the reply primer);
- with only a turn count: ``turns × tokens_per_turn`` (default 17: the median turn of
  the Schema-Guided Dialogue corpus has 49 characters ≈ 13 tokens, plus the 4 of framing).

The gateway's own count, when it sends ``prompt_tokens``, always wins.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CHARS_PER_TOKEN", "MESSAGE_OVERHEAD", "PROMPT_OVERHEAD", "estimate_prompt_tokens"]

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
PROMPT_OVERHEAD = 3


def estimate_prompt_tokens(contents: Iterable[str]) -> int:
    """Tokens of a chat prompt made of messages with these contents.

    >>> estimate_prompt_tokens(["Hello there", "Hi! How can I help?"])
    19
    """
    total = PROMPT_OVERHEAD
    for text in contents:
        total += -(-len(text) // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD
    return total
