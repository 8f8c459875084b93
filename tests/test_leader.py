"""The evaluator lease: one holder at a time, renewals, takeover after the holder dies.

The takeover bound is checked with an injected clock (deterministic), and then with two real
processes on PostgreSQL, one killed with SIGKILL, where only the order of events is asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from alerts.leader import (
    HEARTBEATS_PER_INTERVAL,
    LeaderScheduler,
    acquire,
    current,
    release,
)
from tests.factories import fresh_database
from tests.prom_peer import wait_until

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
TTL = timedelta(seconds=45)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_only_one_holder_until_it_expires(engine: Engine) -> None:
    assert acquire(engine, "loop", "a", T0, TTL)
    assert not acquire(engine, "loop", "b", T0 + timedelta(seconds=1), TTL)
    # A renewal moves the expiry but keeps when the holder first took it.
    assert acquire(engine, "loop", "a", T0 + timedelta(seconds=30), TTL)
    state = current(engine, "loop")
    assert state is not None and state.holder == "a"
    assert state.acquired_at == T0 and state.expires_at == T0 + timedelta(seconds=75)
    assert not acquire(engine, "loop", "b", T0 + timedelta(seconds=74), TTL)
    assert acquire(engine, "loop", "b", T0 + timedelta(seconds=76), TTL)
    state = current(engine, "loop")
    assert state is not None and state.holder == "b"
    assert state.acquired_at == T0 + timedelta(seconds=76)
    # The old holder comes back: it must not take the lease back.
    assert not acquire(engine, "loop", "a", T0 + timedelta(seconds=77), TTL)
    # Leases are per name.
    assert acquire(engine, "reports", "a", T0 + timedelta(seconds=77), TTL)


def test_release_hands_over_at_once(engine: Engine) -> None:
    assert acquire(engine, "loop", "a", T0, TTL)
    assert not release(engine, "loop", "b", T0)  # only the holder can
    assert release(engine, "loop", "a", T0 + timedelta(seconds=1))
    assert acquire(engine, "loop", "b", T0 + timedelta(seconds=1), TTL)


def test_takeover_within_two_intervals_injected_clock(engine: Engine) -> None:
    """A holds and dies right after a renewal; B's heartbeats take over within 2 intervals,
    and jobs run only in the replica holding the lease."""
    interval = 30.0
    clock_a, clock_b = Clock(T0), Clock(T0)
    a = LeaderScheduler(engine, "loop", interval_seconds=interval, holder="a", clock=clock_a)
    b = LeaderScheduler(engine, "loop", interval_seconds=interval, holder="b", clock=clock_b)
    ran: list[tuple[str, datetime]] = []
    assert a.heartbeat() and not b.heartbeat()
    assert a.run_job("cycle", lambda now: ran.append(("a", now)))
    assert not b.run_job("cycle", lambda now: ran.append(("b", now)))
    assert ran == [("a", T0)]
    # A renews every quarter interval while alive ...
    beat = timedelta(seconds=interval / HEARTBEATS_PER_INTERVAL)
    for _ in range(8):
        clock_a.at += beat
        clock_b.at += beat
        assert a.heartbeat() and not b.heartbeat()
    died_at = clock_a.at  # ... and dies just after a renewal: the worst case.
    while not b.heartbeat():
        clock_b.at += beat
        assert clock_b.at - died_at < timedelta(seconds=10 * interval), "never took over"
    assert clock_b.at - died_at <= timedelta(seconds=2 * interval)
    assert b.run_job("cycle", lambda now: ran.append(("b", now)))
    # A, frozen (a long GC pause, a cut-off network), stops by itself: its lease ran out.
    clock_a.at = clock_b.at
    assert not a.run_job("cycle", lambda now: ran.append(("a", now)))
    assert [who for who, _ in ran] == ["a", "b"]


def test_cut_off_holder_stops_when_its_lease_runs_out(engine: Engine, tmp_path: Path) -> None:
    """A holder that cannot reach the database keeps leading only until its lease ends,
    so it has stopped before anyone else can take over."""
    from inventory.db import make_engine

    clock = Clock(T0)
    leader = LeaderScheduler(engine, "loop", interval_seconds=30, holder="a", clock=clock)
    assert leader.heartbeat()
    leader.engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no lease table
    clock.at += timedelta(seconds=30)
    assert leader.heartbeat()  # the renewal failed, but the last one still holds
    clock.at += timedelta(seconds=15)  # 1.5 intervals after the last renewal
    assert not leader.heartbeat()
    assert not leader.run_job("cycle", lambda now: None)
    leader.engine.dispose()


CONTENDER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from alerts.leader import LeaderScheduler
    from inventory.db import make_engine

    url, name, log = sys.argv[1], sys.argv[2], sys.argv[3]
    engine = make_engine(url)
    leader = LeaderScheduler(engine, "loop", interval_seconds=1.0, holder=name)

    def cycle(now: datetime) -> None:
        with open(log, "a") as f:
            f.write(f"{name} {now.timestamp()}\\n")

    leader.add_job("cycle", cycle, 1.0)
    leader.start()
    while True:
        time.sleep(1)
    """
)


def _spawn(url: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-c", CONTENDER, url, name, str(log)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _runs(log: Path) -> list[tuple[str, float]]:
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
    return [(who, float(at)) for who, at in rows]


@pytest.mark.postgres
def test_two_processes_on_postgres_one_runs_then_the_other_takes_over(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database(request, "postgresql", tmp_path) as url:
        from inventory.db import make_engine

        engine = make_engine(url)
        log = tmp_path / "runs.log"
        first = _spawn(url, "first", log)
        second: subprocess.Popen[bytes] | None = None
        try:
            wait_until(lambda: (current(engine, "loop") or None) is not None, 30, "a leader")
            second = _spawn(url, "second", log)
            # Both alive for a while: only the first runs cycles.
            wait_until(lambda: len(_runs(log)) >= 4, 30, "four cycles")
            assert {who for who, _ in _runs(log)} == {"first"}
            state = current(engine, "loop")
            assert state is not None and state.holder == "first"
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed = datetime.now(UTC)
            wait_until(
                lambda: any(who == "second" for who, _ in _runs(log)), 30, "the second to run"
            )
            after = current(engine, "loop")
            assert after is not None and after.holder == "second"
            # Never two at once: the second took the lease only after the first was gone,
            # and ran its first cycle after the first's last one.
            assert after.acquired_at > killed
            runs = _runs(log)
            last_first = max(at for who, at in runs if who == "first")
            first_second = min(at for who, at in runs if who == "second")
            assert first_second > last_first
            print(f"takeover {(after.acquired_at - killed).total_seconds():.2f} s after SIGKILL")
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            engine.dispose()
