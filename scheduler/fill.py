"""Fill one host as full as possible from a pool of replicas (the step of minimum bin slack).

`best_fill` picks, for one host's free capacity, a set of distinct services (one replica
each) that leaves the least slack. It looks for an exact fill first - a completion of up to
three replicas that uses every remaining unit of every resource - with hashed vector sums,
because an exact fill cannot be beaten and CP-SAT takes far longer to find one among
hundreds of candidates. Without one, a small CP-SAT knapsack (or, for very large pools, a
best-fit pass) maximises the host's normalised fill.
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

IntArray = npt.NDArray[np.int64]
# Pair sums cost m^2 / 2 per host: above this many candidates only singles are hashed.
PAIR_LIMIT = 700
KNAPSACK_LIMIT = 80  # candidates above which best fit replaces the CP-SAT knapsack
KNAPSACK_SECONDS = 0.05  # at most, per host; most hosts are filled exactly without it
PAIR_SECONDS = 1e-7  # measured cost of one pair sum (numpy), to size the triple search
VALUE_SCALE = 1_000_000


def _keys(vectors: IntArray, radix: IntArray) -> IntArray:
    """One integer per vector: mixed radix with digits below 2*capacity+1, so sums of two
    vectors that each fit never collide."""
    return vectors @ radix


def exact_completion(
    demands: IntArray, room: IntArray, pair_limit: int = PAIR_LIMIT
) -> list[int] | None:
    """Rows of `demands` (distinct, each fitting `room`) that sum to `room` exactly, at most
    three of them (two above `pair_limit` rows); None if there is no such set."""
    if not len(demands) or not room.any():
        return [] if not room.any() else None
    radix = np.cumprod(np.concatenate(([1], 2 * room[:-1] + 1))).astype(np.int64)
    keys = _keys(demands, radix)
    target = int(_keys(room, radix))
    single = np.flatnonzero(keys == target)
    if len(single):
        return [int(single[0])]
    m = len(demands)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    # Pairs: for each i, look for target - key[i] among the singles.
    need = target - keys
    pos = np.searchsorted(sorted_keys, need)
    for i in np.flatnonzero((pos < m) & (sorted_keys[np.minimum(pos, m - 1)] == need)).tolist():
        p = int(pos[i])
        while p < m and sorted_keys[p] == need[i]:
            j = int(order[p])
            if j != i and np.array_equal(demands[i] + demands[j], room):
                return [i, j]
            p += 1
    if m > pair_limit:
        return None
    a, b = np.triu_indices(m, 1)
    sums = demands[a] + demands[b]
    fits = (sums <= room).all(axis=1)
    a, b = a[fits], b[fits]
    if not len(a):
        return None
    pair_keys = keys[a] + keys[b]
    pair_order = np.argsort(pair_keys, kind="stable")
    sorted_pairs = pair_keys[pair_order]
    pos = np.searchsorted(sorted_pairs, need)
    hits = (pos < len(sorted_pairs)) & (
        sorted_pairs[np.minimum(pos, len(sorted_pairs) - 1)] == need
    )
    for k in np.flatnonzero(hits).tolist():
        p = int(pos[k])
        while p < len(sorted_pairs) and sorted_pairs[p] == need[k]:
            i, j = int(a[pair_order[p]]), int(b[pair_order[p]])
            if k not in (i, j) and np.array_equal(demands[i] + demands[j] + demands[k], room):
                return [k, i, j]
            p += 1
    return None


def best_fill(
    demands: IntArray,
    values: npt.NDArray[np.float64],
    room: IntArray,
    seconds: float,
    seed: int,
    rng: random.Random | None = None,
) -> list[int]:
    """Rows of `demands` to put on a host with `room` left: an exact fill if one exists,
    else the most value (normalised size) a small knapsack finds in `seconds`. With `rng`,
    candidates are shuffled first, so another of several exact fills may be found."""
    fits = np.flatnonzero((demands <= room).all(axis=1))
    if not len(fits):
        return []
    if rng is not None:
        fits = fits[np.array(rng.sample(range(len(fits)), len(fits)), dtype=np.int64)]
    # Triples cost about m^2 pair sums: only as many candidates as this host's time allows.
    pair_limit = min(PAIR_LIMIT, int((seconds / PAIR_SECONDS) ** 0.5))
    exact = exact_completion(demands[fits], room, pair_limit)
    if exact is not None:
        return [int(fits[i]) for i in exact]
    seconds = min(seconds, KNAPSACK_SECONDS)
    if len(fits) > KNAPSACK_LIMIT or seconds <= 0.01:
        return [int(fits[i]) for i in _best_fit(demands[fits], values[fits], room)]
    model = cp_model.CpModel()
    x = [model.new_bool_var("") for _ in fits]
    for r in np.flatnonzero(room > 0).tolist():
        model.add(sum(int(demands[i, r]) * v for i, v in zip(fits, x, strict=True)) <= int(room[r]))
    for r in np.flatnonzero(room <= 0).tolist():
        for i, v in zip(fits, x, strict=True):
            if demands[i, r] > 0:
                model.add(v == 0)
    model.maximize(sum(int(values[i] * VALUE_SCALE) * v for i, v in zip(fits, x, strict=True)))
    greedy = set(_best_fit(demands[fits], values[fits], room))
    for k, v in enumerate(x):
        model.add_hint(v, k in greedy)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [int(fits[i]) for i in sorted(greedy)]
    return [int(fits[k]) for k, v in enumerate(x) if solver.boolean_value(v)]


def _best_fit(demands: IntArray, values: npt.NDArray[np.float64], room: IntArray) -> list[int]:
    """Largest value first, each taken while it still fits (plain ints: thousands of
    four-element checks are faster outside numpy)."""
    left = [int(v) for v in room]
    rows = demands.tolist()
    chosen: list[int] = []
    for i in np.argsort(-values, kind="stable").tolist():
        row = rows[i]
        if all(d <= f for d, f in zip(row, left, strict=True)):
            chosen.append(int(i))
            left = [f - d for f, d in zip(left, row, strict=True)]
    return chosen
