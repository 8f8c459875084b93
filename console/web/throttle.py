"""Login throttling per client address, beside the per-account lockout in inventory.accounts.

The lockout stops guessing one account's password; this stops one client guessing many
accounts (and stops it locking everyone out). Failures are counted in a sliding window per
client address; past the limit the client gets 429 with Retry-After until old failures age
out. State is per process: behind a proxy with N replicas a client gets at most N times the
limit, still far too few guesses to matter, and nothing to share or clean up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 if it may now."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[-self.max_failures] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._recent(client, now)
            self._failures.setdefault(client, deque()).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def client_of(request: Request) -> str:
    """The peer address (behind a proxy, uvicorn's --proxy-headers makes it the client's)."""
    return request.client.host if request.client else "unknown"
