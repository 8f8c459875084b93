"""Recently checked API tokens, so that most requests need not ask the database who calls.

Under load the token check was the largest fixed cost of an API request (a thread hop and a
query before the route could start). Kubernetes' API server caches token reviews the same
way, for two minutes by default; here an entry lives `ttl` seconds (YUNHENG_TOKEN_CACHE_SECONDS,
default 5; 0 turns the cache off) and never past the token's own expiry.

Revoking a token or changing a user (role, department, deactivation, password) in this
process empties the cache once that transaction commits: forgetting earlier would let a
concurrent request put the old answer back from the not-yet-committed database. Other
processes (`--workers`, replicas) see such a change within `ttl` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from inventory.access import Viewer

MAX_ENTRIES = 10_000  # tokens in use at once on one console; beyond it, start afresh


@dataclass(frozen=True, slots=True)
class _Entry:
    viewer: Viewer
    until: float  # time.monotonic() after which the database is asked again
    generation: int


class TokenCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}

    def get(self, token_hash: str) -> Viewer | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token_hash)
        if entry is None or entry.generation != _generation or time.monotonic() >= entry.until:
            return None
        return entry.viewer

    def put(self, token_hash: str, viewer: Viewer, expires_at: datetime, now: datetime) -> None:
        """Remember a live token's caller, for `ttl` or until the token expires if sooner."""
        if self.ttl <= 0:
            return
        lifetime = min(self.ttl, (expires_at - now).total_seconds())
        if lifetime <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # a bound, not an LRU: refilling costs one query per token
        self._entries[token_hash] = _Entry(viewer, time.monotonic() + lifetime, _generation)


# Bumped to forget every cached caller at once; entries record the generation they were
# made in. A plain int under the GIL: a racing reader at worst misses the cache once.
_generation = 0
_lock = threading.Lock()
_FORGET = "yunheng.forget_tokens"


def forget_after_commit(session: Session) -> None:
    """Call in a transaction that revokes tokens or changes who a user is."""
    session.info[_FORGET] = True


def forget_all() -> None:
    global _generation
    with _lock:
        _generation += 1


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FORGET, False):
        forget_all()
