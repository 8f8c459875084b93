"""Many rules, few round trips: rule expressions asked together in one instant query.

`label_replace(<expr 1>, "yunheng_rule", "0", "", "") or label_replace(<expr 2>, ...)` is
one query whose answer carries, on every series, which expression it came from; `or` keeps
every series, since the tag makes their label sets differ. Prometheus evaluates each part as
it would alone, so the answers are the same as one query per rule, at a fraction of the
HTTP and parsing cost (5,000 rules: 100 queries instead of 5,000).

A batch that fails as a whole (one bad expression, one that gives a scalar) is asked again
one expression at a time, so a broken rule fails alone and the others still answer. A
Prometheus that does not answer fails the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from alerts.promql import MetricsSource, QueryError, Sample, Unreachable

TAG = "yunheng_rule"
BATCH = 50  # expressions per query: short enough to POST, parallel enough to spread

Answer = list[Sample] | QueryError


def combined(exprs: Sequence[str]) -> str:
    return " or ".join(f'label_replace(({e}), "{TAG}", "{i}", "", "")' for i, e in enumerate(exprs))


def _split(samples: list[Sample], size: int) -> list[list[Sample]]:
    parts: list[list[Sample]] = [[] for _ in range(size)]
    for sample in samples:
        labels = dict(sample.labels)
        index = int(labels.pop(TAG, "-1"))
        if 0 <= index < size:
            parts[index].append(Sample(labels, sample.value))
    return parts


def _one(source: MetricsSource, expr: str) -> Answer:
    try:
        return source.query(expr)
    except QueryError as exc:
        return exc


def _batch(source: MetricsSource, exprs: Sequence[str]) -> tuple[list[Answer], int]:
    if len(exprs) == 1:
        return [_one(source, exprs[0])], 1
    try:
        return list(_split(source.query(combined(exprs)), len(exprs))), 1
    except Unreachable as exc:
        return [exc for _ in exprs], 1
    except QueryError:
        pass  # find the broken expression: ask each alone
    return [_one(source, e) for e in exprs], 1 + len(exprs)


def query_batched(
    source: MetricsSource, exprs: Sequence[str], *, workers: int, batch: int = BATCH
) -> tuple[list[Answer], int]:
    """Answers in the order of `exprs`, and how many queries that took."""
    chunks = [exprs[i : i + batch] for i in range(0, len(exprs), batch)]

    def run(chunk: Sequence[str]) -> tuple[list[Answer], int]:
        return _batch(source, chunk)

    if len(chunks) <= 1 or workers <= 1:
        results = [run(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="promql") as pool:
            results = list(pool.map(run, chunks))
    answers = [a for part, _ in results for a in part]
    return answers, sum(n for _, n in results)
