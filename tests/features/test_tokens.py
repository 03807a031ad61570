from __future__ import annotations

from features.tokens import estimate_prompt_tokens


def test_estimate_counts_characters_and_framing() -> None:
    # 40 chars -> 10 tokens, 41 chars -> 11 tokens; +4 per message, +3 per prompt
    assert estimate_prompt_tokens(["a" * 40, "b" * 41]) == 10 + 4 + 11 + 4 + 3


def test_empty_conversation_is_just_the_primer() -> None:
    assert estimate_prompt_tokens([]) == 3
