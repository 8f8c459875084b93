"""A wall-clock bound on any adapter call, so a hung cloud cannot stall a sync loop."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Daemon-like pool: a call that never returns keeps one worker, never the caller.
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="adapter-call")


class AdapterTimeout(TimeoutError):
    pass


def call_with_timeout(fn: Callable[[], T], seconds: float, what: str) -> T:
    future = _pool.submit(fn)
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise AdapterTimeout(f"{what} did not answer within {seconds:g} s") from None
