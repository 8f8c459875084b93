"""Alert loop benchmark, against a real Prometheus 2.42 (and Alertmanager 0.25 to compare).

1. cycle time   - one loop cycle (evaluate -> incidents -> escalation -> notifications) for
                  100, 1,000 and 5,000 rules, each a PromQL query, 10 % of them firing; the
                  first cycle (inserts) and the steady state (median of the next ones).
2. latency      - from the moment a metric crosses its threshold to the webhook receiving
                  Yunheng's page, p50/p95 over many breaches; Alertmanager's page for the
                  same rule file and settings measured alongside (scrape and evaluation
                  every 1 s, `for: 0s`, group_wait 0 on both sides).
3. rows per day - rows inserted, updated or deleted per cycle with 1,000 alerts firing
                  steadily, scaled to a day at the default 30 s interval.

    .venv/bin/python -m bench.alerts [--backend sqlite|postgresql|both] [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import Session

from alerts.evaluate import Evaluator
from alerts.loop import AlertLoop, run_cycle
from alerts.promql import PrometheusSource
from alerts.rules import load_rule_file
from alerts.state import SEEN_REFRESH_SECONDS
from bench.table import render
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.migrate import upgrade
from inventory.models import AlertRoute, ChannelKind, NotificationChannel
from inventory.settings import Settings
from inventory.types import utcnow
from tests.prom_peer import (
    MetricsTarget,
    WebhookReceiver,
    alertmanager,
    prometheus,
    wait_until,
    write_rules,
)

DAY = 86_400
DEFAULT_INTERVAL = 30.0


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        yield url
        return
    from tests.pg import throwaway_postgres

    with throwaway_postgres(durable=True) as url:
        upgrade(url)
        yield url


def _rules(path: Path, n_rules: int, per_group: int = 100) -> Path:
    groups = []
    for start in range(0, n_rules, per_group):
        rules = [
            {
                "alert": f"Bench{k:05d}",
                "expr": f'yh_bench{{rule="{k}"}} > 0.5',
                "labels": {"severity": "warning"},
                "annotations": {"summary": "rule {{ $labels.rule }} at {{ $value }}"},
            }
            for k in range(start, min(start + per_group, n_rules))
        ]
        groups.append({"name": f"bench-{start // per_group}", "rules": rules})
    return write_rules(path, groups)


def cycle_times(backend: str, sizes: list[int], cycles: int) -> list[list[str]]:
    rows = []
    for n_rules in sizes:
        with ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = stack.enter_context(database(backend, folder))
            target = MetricsTarget()
            stack.callback(target.close)
            for k in range(n_rules):
                target.set("yh_bench", 0.9 if k % 10 == 0 else 0.1, rule=str(k))
            prom = stack.enter_context(prometheus(folder / "prom", targets=[target.address]))
            source = PrometheusSource(prom.url, timeout=30)
            wait_until(
                lambda: len(source.query("yh_bench")) == n_rules,  # noqa: B023
                60,
                "the first scrape",
            )
            engine = make_engine(url)
            stack.callback(engine.dispose)
            box = SecretBox(Fernet.generate_key())
            groups = load_rule_file(_rules(folder / "rules.yml", n_rules))
            evaluator = Evaluator(groups, source)
            took = []
            queried = []
            for _ in range(cycles + 1):
                started = time.perf_counter()
                evaluator.collect(utcnow())
                queried.append(time.perf_counter() - started)
                report = run_cycle(engine, box, evaluator, utcnow(), send_timeout=5)
                assert not report.failed_steps, report.failed_steps
                took.append(report.seconds)
            firing = sum(g.observed for g in report.round.groups) if report.round else 0
            rows.append(
                [
                    backend,
                    f"{n_rules:,}",
                    f"{firing:,}",
                    f"{took[0]:.2f}",
                    f"{statistics.median(took[1:]):.2f}",
                    f"{statistics.median(queried[1:]):.2f}",
                ]
            )
            print(f"  cycle time: {backend} {n_rules} rules done", flush=True)
    return rows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(backend: str, trials: int, setups: int = 3) -> list[list[str]]:
    """Breach -> page, Yunheng and Alertmanager side by side on the same rule file, over
    `setups` fresh Prometheus/Alertmanager/loop set-ups (each puts Prometheus's rule
    evaluation at another phase against Yunheng's slots) of trials/setups breaches each,
    every breach at a random moment (so at a random phase against scrapes)."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(setups):
        mine, other = _latency_setup(backend, trials // setups)
        ours += mine
        theirs += other
    print(f"  latency: {backend} {len(ours)} breaches done", flush=True)
    return [
        [
            who,
            backend,
            str(len(values)),
            f"{_percentile(values, 0.5):.2f}",
            f"{_percentile(values, 0.95):.2f}",
            f"{max(values):.2f}",
        ]
        for who, values in (("Yunheng", ours), ("Prometheus + Alertmanager", theirs))
    ] + [
        [
            "Yunheng minus Alertmanager",
            backend,
            str(len(ours)),
            f"{_percentile([a - b for a, b in zip(ours, theirs, strict=True)], 0.5):+.2f}",
            f"{_percentile([a - b for a, b in zip(ours, theirs, strict=True)], 0.95):+.2f}",
            f"{max(a - b for a, b in zip(ours, theirs, strict=True)):+.2f}",
        ]
    ]


def _latency_setup(backend: str, trials: int) -> tuple[list[float], list[float]]:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(database(backend, folder))
        target = MetricsTarget()
        stack.callback(target.close)
        hook = WebhookReceiver()
        stack.callback(hook.close)
        rule = {"alert": "Breach", "expr": "yh_breach > 0.8", "labels": {"severity": "critical"}}
        rules = write_rules(folder / "rules.yml", [{"name": "breach", "rules": [rule]}])
        target.set("yh_breach", 0.1, node="warmup")
        am = stack.enter_context(
            alertmanager(
                folder / "am",
                webhook_url=f"{hook.url}/am",
                group_wait="0s",
                group_by=["alertname", "node"],
            )
        )
        prom = stack.enter_context(
            prometheus(
                folder / "prom", targets=[target.address], rule_files=[rules], alertmanager=am.url
            )
        )
        engine = make_engine(url)
        stack.callback(engine.dispose)
        with Session(engine) as session:
            channel = NotificationChannel(
                name="bench", kind=ChannelKind.webhook, settings={"url": f"{hook.url}/yunheng"}
            )
            session.add(channel)
            session.flush()
            session.add(
                AlertRoute(
                    name="bench",
                    group_by=["alertname", "node"],
                    group_wait_seconds=0,
                    channel_ids=[channel.id or 0],
                )
            )
            session.commit()
        settings = Settings(
            database_url=url,
            data_dir=folder / "data",
            secret_key=Fernet.generate_key().decode(),
            prometheus_url=prom.url,
            rule_files=str(rules),
            alert_interval_seconds=1.0,
        )
        loop = AlertLoop(engine, SecretBox.from_settings(settings), settings)
        loop.start()
        stack.callback(loop.stop)
        source = PrometheusSource(prom.url)
        wait_until(lambda: bool(source.query("yh_breach")), 60, "the first scrape")
        ours: list[float] = []
        theirs: list[float] = []
        for trial in range(trials):
            node = f"n{trial}"

            def paged(path: str, node: str = node) -> bool:
                return any(
                    r.path == path
                    and r.body.get("status") == "firing"
                    and node in str(r.body.get("alerts"))
                    for r in hook.received
                )

            breach = time.monotonic()
            target.set("yh_breach", 0.95, node=node)
            hook.wait_for(lambda _: paged("/yunheng") and paged("/am"), 60, f"trial {trial}")
            for path, into in (("/yunheng", ours), ("/am", theirs)):
                first = min(
                    r.at
                    for r in hook.received
                    if r.path == path and node in str(r.body.get("alerts"))
                )
                into.append(first - breach)
            target.set("yh_breach", 0.1, node=node)
            time.sleep(0.3 + random.random())  # the next breach at a random phase
        return ours, theirs


def rows_per_day(backend: str, firing: int, cycles: int) -> tuple[list[list[str]], str]:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(database(backend, folder))
        target = MetricsTarget()
        stack.callback(target.close)
        for k in range(firing):
            target.set("yh_steady", 1.0, node=f"n{k:04d}", cloud=f"c{k % 5}")
        rule = {"alert": "Steady", "expr": "yh_steady > 0.5", "labels": {"severity": "warning"}}
        rules = write_rules(folder / "rules.yml", [{"name": "steady", "rules": [rule]}])
        prom = stack.enter_context(prometheus(folder / "prom", targets=[target.address]))
        source = PrometheusSource(prom.url)
        wait_until(lambda: len(source.query("yh_steady")) == firing, 60, "the first scrape")
        engine = make_engine(url)
        stack.callback(engine.dispose)
        box = SecretBox(Fernet.generate_key())
        evaluator = Evaluator(load_rule_file(rules), source)
        written: Counter[str] = Counter()

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            verb = statement.lstrip().split(" ", 1)[0].upper()
            if verb in ("INSERT", "UPDATE", "DELETE"):
                words = statement.split()
                table = words[2] if verb != "UPDATE" else words[1]
                written[table.strip('"')] += max(cursor.rowcount, 0)

        now = utcnow()
        for step in range(3):  # settle: alerts in, incidents opened, first page queued
            run_cycle(engine, box, evaluator, now + timedelta(seconds=step), send_timeout=5)
        sa.event.listen(engine, "after_cursor_execute", count)
        # Cycles one interval apart on the injected clock, over more than one refresh period
        # of unchanged alerts (alerts.state.SEEN_REFRESH_SECONDS), so the refresh is counted.
        for step in range(cycles):
            at = now + timedelta(seconds=3 + step * DEFAULT_INTERVAL)
            run_cycle(engine, box, evaluator, at, send_timeout=5)
        sa.event.remove(engine, "after_cursor_execute", count)
        per_cycle = sum(written.values()) / cycles
        per_day = per_cycle * DAY / DEFAULT_INTERVAL
        detail = ", ".join(f"{t} {n / cycles:,.0f}" for t, n in written.most_common())
        print(f"  rows per day: {backend} done", flush=True)
        return (
            [[backend, f"{firing:,}", f"{per_cycle:,.0f}", f"{per_day:,.0f}"]],
            f"{backend}: per cycle by table: {detail or 'none'}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 rules, 10 breaches")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--parts", default="cycle,latency,rows", help="any of cycle, latency, rows (comma list)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # "no channel to notify" x 500 is not news here
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    sizes = [100, 1_000] if args.quick else [100, 1_000, 5_000]
    trials = 10 if args.quick else 30
    cycle_rows: list[list[str]] = []
    latency_rows: list[list[str]] = []
    write_rows: list[list[str]] = []
    notes: list[str] = []
    parts = set(args.parts.split(","))
    for backend in backends:
        if "cycle" in parts:
            cycle_rows += cycle_times(backend, sizes, cycles=5)
        if "latency" in parts:
            latency_rows += latency(backend, trials)
        if "rows" in parts:
            cycles = int(2 * SEEN_REFRESH_SECONDS // DEFAULT_INTERVAL)
            rows, note = rows_per_day(backend, 1_000, cycles=cycles)
            write_rows += rows
            notes.append(note)
    md = args.markdown
    tables = [
        (
            ["backend", "rules", "firing", "first cycle s", "steady cycle s", "of which queries s"],
            cycle_rows,
            {1, 2, 3, 4, 5},
        ),
        (
            ["breach -> page", "backend", "breaches", "p50 s", "p95 s", "max s"],
            latency_rows,
            {2, 3, 4, 5},
        ),
        (
            ["backend", "firing alerts", "rows written per cycle", "rows per day (30 s interval)"],
            write_rows,
            {1, 2, 3},
        ),
    ]
    for headers, rows, right in tables:
        if rows:
            print()
            print(render(headers, rows, right, md))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
