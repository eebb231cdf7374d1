"""A sliding-window limit per key (how many images one user may send in a minute)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` events per `window_s` seconds for each key."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._window, self._clock = limit, window_s, clock
        self._events: dict[int, deque[float]] = {}

    def allow(self, key: int) -> bool:
        """Count an event for `key` if it is within the limit; False (and not counted) otherwise."""
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self._window:
            events.popleft()
        if len(events) >= self._limit:
            return False
        events.append(now)
        if len(self._events) > 10_000:  # forget keys idle for a whole window
            self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self._window}
        return True
