"""Staying under Google's quotas, and retrying what Google asks us to retry.

Two pieces, both independent of any HTTP library so they can be tested without sleeping:

* :class:`RateLimiter` keeps at most ``per_minute`` requests in any rolling 60-second
  window (Google counts requests per minute per user: 60 reads and 60 writes by default).
  It is a token bucket whose tokens each come back exactly one window after they were
  spent, so a burst can never push a minute over the quota; callers wait before sending
  instead of collecting 429s.
* :class:`RetryPolicy` runs an operation with a bounded number of retries, exponential
  backoff with jitter, and ``Retry-After`` honoured; it is a loop, not recursion.

gspread 6.2.1's ``BackOffHTTPClient`` retries without a bound, so it is not used.
"""

from __future__ import annotations

import collections
import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

__all__ = [
    "Limits",
    "RateLimiter",
    "RetryPolicy",
    "Transient",
    "parse_retry_after",
]

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: quota (429) and Google's transient server errors."""


class RateLimiter:
    """At most ``per_minute`` acquisitions in any rolling window of ``window`` seconds.

    Thread-safe: concurrent callers queue on one lock, so the limit holds for the process.

    Args:
        per_minute: how many requests a window may hold (Google's per-minute quota).
        clock: monotonic time in seconds (injected in tests).
        sleep: how to wait (injected in tests, where it advances the fake clock).
        window: the window length in seconds (60 for Google's per-minute quotas).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        window: float = 60.0,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0
        self._stamps: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one request slot, waiting until the window has room; returns seconds waited."""
        waited = 0.0
        floor = float("-inf")  # a slot freed by waiting starts when its predecessor left
        with self._lock:
            while True:
                now = self.clock()
                while self._stamps and self._stamps[0] + self.window <= now:
                    self._stamps.popleft()
                if len(self._stamps) < self.per_minute:
                    self._stamps.append(max(now, floor))
                    self.waited += waited
                    return waited
                until = self._stamps[0] + self.window
                if until - now > 1e-9:
                    self.sleep(until - now)
                    waited += until - now
                self._stamps.popleft()  # slept until the oldest request left the window
                floor = max(floor, until)

    def in_window(self) -> int:
        """Requests counted in the current window (for reports and tests)."""
        with self._lock:
            now = self.clock()
            return sum(1 for s in self._stamps if s > now - self.window)


@dataclass
class Limits:
    """One :class:`RateLimiter` per quota kind ("read", "write")."""

    read: RateLimiter
    write: RateLimiter

    @classmethod
    def per_minute(
        cls,
        read: int = 60,
        write: int = 60,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> Limits:
        """Limiters for Google's per-minute read and write quotas."""
        return cls(
            RateLimiter(read, clock=clock, sleep=sleep),
            RateLimiter(write, clock=clock, sleep=sleep),
        )

    def acquire(self, kind: str | None) -> float:
        """Take a slot of ``kind`` ("read", "write"; None: not rate limited)."""
        if kind == "read":
            return self.read.acquire()
        if kind == "write":
            return self.write.acquire()
        return 0.0


@dataclass
class Transient:
    """Why an attempt may be retried: the HTTP status (None for a timeout or a broken
    connection) and the server's ``Retry-After`` in seconds, if it sent one."""

    status: int | None
    retry_after: float | None = None
    reason: str = ""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff, jitter and ``Retry-After``.

    Attempt ``n`` (0-based) that fails transiently waits ``Retry-After`` when the server
    sent one, else ``min(cap, base * 2**n)`` scaled by a random factor in [0.5, 1] (so
    many workers do not retry in lockstep). After ``max_retries`` retries the last error
    is raised.

    Args:
        max_retries: retries after the first attempt (0: no retry).
        base: first backoff in seconds.
        cap: longest backoff in seconds.
        max_retry_after: longest wait for a ``Retry-After`` (a longer one is capped, so
            one source cannot stall the whole cycle; its retries then run out).
        sleep: how to wait (injected in tests).
        rng: jitter source (seeded in tests).
    """

    max_retries: int = 5
    base: float = 1.0
    cap: float = 32.0
    max_retry_after: float = 120.0
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    slept: list[float] = field(default_factory=list)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.cap, self.base * (2**attempt))
        return backoff * (0.5 + self.rng.random() / 2)

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        """Sleep before retry number ``attempt + 1``."""
        pause = self.delay(attempt, retry_after)
        self.slept.append(pause)
        self.sleep(pause)

    def run(
        self,
        operation: Callable[[], T],
        classify: Callable[[BaseException], Transient | None],
        *,
        on_retry: Callable[[int, Transient], None] | None = None,
    ) -> T:
        """Call ``operation`` until it succeeds, fails for good, or retries run out.

        Args:
            operation: the attempt (it acquires its own rate-limit slot each time).
            classify: a :class:`Transient` for errors worth retrying, None for the others.
            on_retry: called with the attempt number and the reason before each wait.

        Raises:
            The last exception when it is not transient or no retry is left.
        """

        def why(state: RetryCallState) -> Transient:
            assert state.outcome is not None
            reason = classify(state.outcome.exception() or Exception())
            assert reason is not None  # only transient failures are retried
            return reason

        def wait(state: RetryCallState) -> float:
            return self.delay(state.attempt_number - 1, why(state).retry_after)

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None:
                on_retry(state.attempt_number - 1, why(state))
            assert state.next_action is not None
            self.slept.append(state.next_action.sleep)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(lambda exc: classify(exc) is not None),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(operation)
