"""The one error every notifier raises."""

from __future__ import annotations


class NotifyError(Exception):
    """A notification did not get through; `why` is kept on the delivery.

    `retry` is False when trying again cannot help (a rejected request, broken settings),
    so the delivery fails at once instead of after every backoff step.
    """

    def __init__(self, why: str, *, retry: bool = True) -> None:
        super().__init__(why)
        self.why = why
        self.retry = retry
