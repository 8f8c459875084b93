"""A real Prometheus 2.42 serving weeks of history: series written as OpenMetrics, turned into
TSDB blocks by `promtool tsdb create-blocks-from openmetrics`, and a Prometheus started on
that data directory (blocks in the directory at start are loaded at once).

Retention is set far out, or Prometheus would delete the backfilled past at start.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.prom_peer import PROMETHEUS, Peer, PeerUnavailable, _start, binary, free_port

PROMTOOL = "promtool"


@dataclass(frozen=True)
class Series:
    """One series: `name{labels}` with (unix seconds, value) samples in time order."""

    name: str
    labels: dict[str, str]
    kind: str  # "gauge" or "counter"
    samples: list[tuple[int, float]]


def require_promtool() -> None:
    from tests.conftest import skip_or_fail

    for name in (PROMETHEUS, PROMTOOL):
        try:
            binary(name)
        except PeerUnavailable as exc:
            skip_or_fail(str(exc))


def openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text: each metric family once, its series contiguous, then # EOF."""
    by_name: dict[str, list[Series]] = {}
    for s in series:
        by_name.setdefault(s.name, []).append(s)
    lines: list[str] = []
    for name, members in by_name.items():
        kind = members[0].kind
        family = name.removesuffix("_total") if kind == "counter" else name
        lines.append(f"# TYPE {family} {kind}")
        for s in members:
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            lines.extend(f"{name}{{{inner}}} {v!r} {t}" for t, v in s.samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(workdir: Path, series: Iterable[Series]) -> Path:
    """Write the series into TSDB blocks under workdir/tsdb; returns that directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "history.om"
    source.write_text(openmetrics(series))
    data = workdir / "tsdb"
    done = subprocess.run(
        [
            binary(PROMTOOL),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            # Blocks of up to 400 h instead of promtool's 2 h: a month is 2-3 blocks, not
            # ~400, and the backfill takes about 1 s instead of 15-50 s (a hidden flag).
            "--max-block-duration=400h",
            str(source),
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise PeerUnavailable(f"promtool backfill failed: {done.stderr[-2000:]}")
    return data


@contextmanager
def prometheus_on(workdir: Path, data: Path) -> Iterator[Peer]:
    """Prometheus on a prepared data dir, scraping nothing (the history is all there is)."""
    config = {"global": {"scrape_interval": "1m"}, "scrape_configs": []}
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary(PROMETHEUS),
        f"--config.file={path}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=100y",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    peer = _start("prometheus", args, f"http://127.0.0.1:{port}", workdir)
    try:
        yield peer
    finally:
        peer.stop()


def promtool_check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary(PROMTOOL), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
