"""Placement benchmark: the greedy baselines and solve() (greedy, then CP-SAT) on generated
and real instances, each run in a fresh subprocess for its peak RSS.

Instances (--instances, comma separated; bench/instances.py documents each generator):

    synthetic-100   100 hosts / 500 replicas, the full constraint mix
    synthetic-1000  1,000 hosts / 5,000 replicas
    synthetic-3000  3,000 hosts / 20,000 replicas (heavy)
    synthetic-HxR   any other size, e.g. synthetic-50x200
    optimum         known-optimum instances (60, 120, 250, 500 replicas x 2 and 3 resources)
    alibaba         the Alibaba openb trace (default pod list); alibaba-gpuspec33 and
                    alibaba-multigpu50 use the other two pod lists
    single          one 20-replica request into a 2,000-host estate, solved --repeat times

Every plan is re-checked with scheduler.validate.violations, outside the timed call. The
targets of the placement issue are judged at the end, as PASS, FAIL or "not judged" when
this run cannot tell (e.g. a 60 s target without --long).

    .venv/bin/python -m bench.placement --help
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.instances import alibaba_openb, known_optimum, request_into_estate, synthetic
from bench.placement_report import (
    FAIL,
    render_notes,
    render_rows,
    render_single,
    render_verdicts,
    verdicts,
)
from bench.placement_worker import RESULT_MARK, ROOT, SOLVERS, Row, Spec, worker
from scheduler.problem import Problem

DATA = Path("/work/shared/data/alibaba-openb")
SYNTHETIC = {"synthetic-100": (100, 500), "synthetic-1000": (1000, 5000)}
SYNTHETIC["synthetic-3000"] = (3000, 20_000)
OPTIMUM_SIZES = (60, 120, 250, 500)
OPTIMUM_RESOURCES = (2, 3)
ALIBABA = {
    "alibaba": "openb_pod_list_default.csv",
    "alibaba-gpuspec33": "openb_pod_list_gpuspec33.csv",
    "alibaba-multigpu50": "openb_pod_list_multigpu50.csv",
}
DEFAULT_INSTANCES = "synthetic-100,synthetic-1000,optimum,alibaba,single"
LONG_LIMIT = 60.0
SINGLE_HOSTS, SINGLE_REPLICAS = 2000, 20


def instances(names: Sequence[str], seed: int) -> list[tuple[str, Problem, int | None]]:
    """(name, problem, known optimum or None) for each requested name, in order."""
    out: list[tuple[str, Problem, int | None]] = []
    for name in names:
        if name in SYNTHETIC or name.startswith("synthetic-"):
            hosts, replicas = SYNTHETIC.get(name) or _size(name)
            out.append((name, synthetic(hosts, replicas, seed), None))
        elif name == "optimum":
            for replicas in OPTIMUM_SIZES:
                for resources in OPTIMUM_RESOURCES:
                    problem, best = known_optimum(replicas, resources, seed)
                    out.append((f"optimum-{replicas}x{resources}", problem, best))
        elif name in ALIBABA:
            if not DATA.is_dir():
                raise SystemExit(f"{name}: the trace is not at {DATA}")
            out.append((name, alibaba_openb(DATA, seed, ALIBABA[name]), None))
        elif name == "single":
            out.append((name, request_into_estate(SINGLE_HOSTS, SINGLE_REPLICAS, seed), None))
        else:
            raise SystemExit(f"unknown instance {name!r}")
    return out


def _size(name: str) -> tuple[int, int]:
    try:
        hosts, replicas = name.removeprefix("synthetic-").split("x")
        return int(hosts), int(replicas)
    except ValueError:
        hint = "use synthetic-100, -1000, -3000 or synthetic-HOSTSxREPLICAS"
        raise SystemExit(f"{name!r}: {hint}") from None


def spawn(spec: Spec, timeout: float) -> list[Row]:
    cmd = [sys.executable, "-m", "bench.placement", "--worker", json.dumps(asdict(spec))]
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return [Row(spec.instance, 0, 0, spec.solver, spec.time_limit, f"killed ({timeout:.0f} s)")]
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return [Row(**row) for row in json.loads(line[len(RESULT_MARK) :])]
    return [Row(spec.instance, 0, 0, spec.solver, spec.time_limit, f"crashed ({done.returncode})")]


def runs(name: str, args: argparse.Namespace) -> list[tuple[str, float]]:
    """(solver, time limit) runs for one instance."""
    if name == "single":
        return [("single", args.time_limit)]
    out = [(s, args.time_limit) for s in SOLVERS]
    if args.long and name.startswith("synthetic-") and args.time_limit < LONG_LIMIT:
        out.append(("cp-sat", LONG_LIMIT))
    return out


def run_all(args: argparse.Namespace) -> tuple[list[Row], list[Row]]:
    names = [n.strip() for n in args.instances.split(",") if n.strip()]
    rows: list[Row] = []
    single: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="yunheng-placement-") as tmp:
        for base in names:
            started = time.perf_counter()
            made = instances([base], args.seed)
            print(
                f"  {base}: generated in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            for name, problem, best in made:
                path = Path(tmp) / f"{name}.json"
                path.write_text(problem.model_dump_json())
                for solver, limit in runs(name, args):
                    print(f"  {name}: {solver} {limit:g} s ...", file=sys.stderr, flush=True)
                    repeat = args.repeat if solver == "single" else 1
                    spec = Spec(name, str(path), solver, limit, args.seed, args.workers, repeat)
                    spec.optimum = best
                    timeout = repeat * (4 * limit + 120) + 300
                    (single if solver == "single" else rows).extend(spawn(spec, timeout))
                path.unlink()
    return rows, single


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.placement",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--instances",
        default=DEFAULT_INSTANCES,
        help=f"comma list (default {DEFAULT_INSTANCES}); synthetic-3000 is heavy",
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="solve() limit, s")
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"also solve the synthetic instances with a {LONG_LIMIT:g} s limit",
    )
    parser.add_argument("--seed", type=int, default=1, help="instances and CP-SAT seed")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers")
    parser.add_argument("--repeat", type=int, default=20, help="single-request repeats")
    parser.add_argument("--markdown", action="store_true", help="tables for bench/RESULTS.md")
    parser.add_argument("--json", action="store_true", help="rows and verdicts as JSON")
    parser.add_argument("--no-notes", action="store_true", help="leave out the solvers' notes")
    parser.add_argument(
        "--load",
        metavar="FILE[,FILE]",
        help="render (and judge) earlier --json outputs together instead of running",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        rows = worker(Spec(**json.loads(args.worker)))
        print(RESULT_MARK + json.dumps([asdict(r) for r in rows]), flush=True)
        return 0

    if args.load:
        rows, single = load(args.load.split(","))
        return report(rows, single, args)
    print(
        f"placement benchmark: Python {platform.python_version()}, seed {args.seed}, "
        f"time limit {args.time_limit:g} s{' (+60 s runs)' if args.long else ''}, "
        f"{args.workers} CP-SAT workers",
        file=sys.stderr,
    )
    rows, single = run_all(args)
    return report(rows, single, args)


def load(files: Sequence[str]) -> tuple[list[Row], list[Row]]:
    rows: list[Row] = []
    single: list[Row] = []
    for name in files:
        data = json.loads(Path(name).read_text())
        rows += [Row(**r) for r in data["rows"]]
        single += [Row(**r) for r in data["single"]]
    return rows, single


def report(rows: list[Row], single: list[Row], args: argparse.Namespace) -> int:
    judged = verdicts(rows, single, args.time_limit)
    if args.json:
        out = {
            "rows": [asdict(r) for r in rows],
            "single": [asdict(r) for r in single],
            "targets": [{"target": t, "measured": m, "result": v} for t, m, v in judged],
        }
        print(json.dumps(out, indent=2))
    else:
        if rows:
            print(render_rows(rows, args.markdown))
        if single:
            print()
            print(render_single(single, args.markdown))
        notes = "" if args.no_notes else render_notes([*rows, *single])
        if notes:
            print("\nNotes from the solvers:\n")
            print(notes)
        print()
        print(render_verdicts(judged, args.markdown))
    return 1 if any(v == FAIL for _, _, v in judged) else 0


if __name__ == "__main__":
    sys.exit(main())
