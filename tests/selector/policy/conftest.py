"""What the policy tests share: service parts on a fixed clock, without the classifier."""

from __future__ import annotations

import pytest

from tests.builders import Parts


class Clock:
    t = 5_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def parts() -> Parts:
    return Parts(with_classifier=False, clock=Clock())
