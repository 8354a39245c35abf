"""Capped exponential backoff with jitter, for every retry bridge makes."""

from __future__ import annotations

import random


def jittered(first: float, attempt: int, cap: float) -> float:
    """The delay before retry number `attempt` (1, 2, …): `first` doubled each time up to `cap`,
    then between half and all of it, so callers that failed together do not retry together."""
    delay = min(cap, first * 2 ** min(attempt - 1, 20))
    return float(delay * (0.5 + random.random() / 2))  # noqa: S311


class Backoff:
    """Consecutive failures and the delay each one earns: 0.5 s, 1 s, 2 s … up to `cap`."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = first
        self._cap = cap
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return jittered(self._first, self.failures, self._cap)

    def reset(self) -> None:
        self.failures = 0
