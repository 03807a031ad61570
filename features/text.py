"""Fast structural features of a prompt's text, shared by serving and training.

They describe the shape of a request rather than its words: how long it is, how many
numbers and quantities it holds, how many steps it seems to ask for. On RouteLLM's
GSM8K they rank where the strong model helps better than the prompt's length alone
(see the README's results). Word-level signal comes from the quality model's own
TF-IDF scorers (:mod:`models.quality`).

One pass of two regular expressions over the text: a few microseconds a prompt.
"""

from __future__ import annotations

import math
import re

__all__ = ["TEXT_FEATURES", "text_features"]

TEXT_FEATURES: tuple[tuple[str, str], ...] = (
    ("chars", "characters"),
    ("words", "words (runs of non-space characters)"),
    ("sentences", "sentence ends (. ? !) and line breaks"),
    ("numbers", "numbers written with digits"),
    ("distinct_numbers", "distinct numbers"),
    ("max_number_log", "log(1 + the largest number)"),
    ("decimals", "numbers with a decimal point"),
    ("percents", "'%' signs and the word 'percent'"),
    ("fractions", "'/' and the words half, third, quarter"),
    ("money", "currency signs"),
    ("rates", "each, every, per"),
    ("multiples", "twice, double, triple, times"),
    ("comparisons", "more, less, fewer, than"),
    ("time_units", "hour, minute, day, week, month, year"),
    ("sequence_words", "if, then, after, before, remaining, rest, left"),
    ("questions", "question marks"),
    ("mean_word_chars", "mean characters a word"),
    ("math_symbols", "= + * ^ < >"),
)

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[a-z]+")
_KEYWORDS = {
    "percent": 7,
    "half": 8,
    "third": 8,
    "quarter": 8,
    "each": 10,
    "every": 10,
    "per": 10,
    "twice": 11,
    "double": 11,
    "triple": 11,
    "times": 11,
    "more": 12,
    "less": 12,
    "fewer": 12,
    "than": 12,
}
for _w in (
    "hour",
    "hours",
    "minute",
    "minutes",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
):
    _KEYWORDS[_w] = 13
for _w in ("if", "then", "after", "before", "remaining", "rest", "left"):
    _KEYWORDS[_w] = 14


def text_features(text: str) -> list[float]:
    """The :data:`TEXT_FEATURES` of ``text``, in order.

    >>> f = text_features("Tom has 3 apples and buys 2.5 kg more each week. How many now?")
    >>> dict(zip([n for n, _ in TEXT_FEATURES], f))["numbers"]
    2.0
    """
    out = [0.0] * len(TEXT_FEATURES)
    words = text.split()
    out[0] = float(len(text))
    out[1] = float(len(words))
    out[2] = float(text.count(".") + text.count("?") + text.count("!") + text.count("\n"))
    numbers = _NUMBER.findall(text)
    values = set()
    biggest = 0.0
    for n in numbers:
        try:
            v = float(n.replace(",", ""))
        except ValueError:
            continue
        values.add(v)
        biggest = max(biggest, v)
        if "." in n:
            out[6] += 1
    out[3] = float(len(numbers))
    out[4] = float(len(values))
    out[5] = math.log1p(biggest)
    out[7] = float(text.count("%"))
    out[8] = float(text.count("/"))
    out[9] = float(sum(text.count(c) for c in "$€£¥"))
    for w in _WORD.findall(text.lower()):
        slot = _KEYWORDS.get(w)
        if slot is not None:
            out[slot] += 1
    out[15] = float(text.count("?"))
    out[16] = sum(len(w) for w in words) / len(words) if words else 0.0
    out[17] = float(sum(text.count(c) for c in "=+*^<>"))
    return out
