"""MIP instances: seeded generators of the Gasse et al. (2019) families and an MPS/LP loader.

Every model is stored as a minimisation ``min c·x  s.t.  row_lower <= A x <= row_upper, col bounds,
integrality`` (maximisation problems are negated, ``objective_sign`` records it). Instances are immutable;
this module builds HiGHS models from them but never runs a search.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import Distribution, Instance, content_id
from tunegym.envs.core.extras import require

highspy = require("highspy", "mip", "the MIP environments (tunegym/MIPLNS-v0, LNSSolver)")

__all__ = [
    "MIPInstance", "MalformedModelError", "InfeasibleModelError", "UnboundedRelaxationError",
    "NoIntegerVariablesError", "UnsupportedModelError", "set_cover", "combinatorial_auction", "facility_location",
    "independent_set", "load_model", "GENERATORS", "MIPFamilyDistribution", "new_highs", "multi_knapsack",
    "generalized_assignment", "max_cut", "HELDOUT_GENERATORS", "HeldOutFamilyDistribution", "run_highs",
    "reset_thread_scheduler", "infeasible_or_unbounded",
]

INF = highspy.kHighsInf


class MalformedModelError(InstanceError):
    """The file could not be read as an MPS/LP model."""


class InfeasibleModelError(InstanceError):
    """The model (or its LP relaxation) has no feasible point."""


class UnboundedRelaxationError(InstanceError):
    """The LP relaxation is unbounded, so neither LNS nor a gap makes sense."""


class NoIntegerVariablesError(InstanceError):
    """The model has no integer variables: it is an LP, there is nothing to search."""


class UnsupportedModelError(InstanceError):
    """The model uses a feature the LNS cannot represent (semi-continuous or semi-integer columns): treating it
    as something else would solve another model and report its optimum as this one's."""


#: HiGHS's ``infinite_cost``: a cost of at least this size is stored as infinite (no finite objective exists)
_INFINITE_COST = 1e20


_BANNER_SILENCED = False


def _highs_without_banner() -> highspy.Highs:
    """``highspy.Highs()``; the first one of a process prints HiGHS's banner from C++ onto file descriptor 1,
    which would corrupt a command's JSON on stdout (``tunegym eval --json``), so that one is built with fd 1
    pointed at /dev/null."""
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SILENCED = True
    return h


def new_highs(**options: Any) -> highspy.Highs:
    """A silent, single-threaded, deterministic HiGHS."""
    h = _highs_without_banner()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    for key, value in options.items():
        h.setOptionValue(key, value)
    return h


_THIS_THREAD = threading.local()  # .runs: HiGHS runs of run_highs in progress on it (nested in callbacks when > 1)


def reset_thread_scheduler() -> None:
    """Drop this thread's HiGHS task scheduler, so that the next run builds one with its own ``threads`` option.

    HiGHS keeps one scheduler per thread, sized by the first run that needed it: after a user's own HiGHS run
    with the default thread count, every single-threaded run of :func:`new_highs` on the same thread fails at once
    (status "Not Set", "the scheduler has already been initialized to use N threads"), and after ours the user's
    later runs would stay on one thread. A no-op while a run of :func:`run_highs` is in progress (inside a HiGHS
    callback), whose scheduler must stay."""
    if getattr(_THIS_THREAD, "runs", 0):
        return
    reset = getattr(highspy.Highs, "resetThreadScheduler", None) or getattr(highspy.Highs, "resetGlobalScheduler", None)
    if reset is not None:
        reset(True)


def run_highs(h: highspy.Highs) -> highspy.HighsStatus:
    """``h.run()``; where HiGHS refuses to start because this thread's scheduler was sized by another thread count
    (a user's own HiGHS run in the same process before ours), the scheduler is reset and the run made once more.
    Every HiGHS run of the MIP domain goes through here."""
    for attempt in range(2):
        outer = getattr(_THIS_THREAD, "runs", 0)
        _THIS_THREAD.runs = outer + 1
        try:
            status = h.run()
        finally:
            _THIS_THREAD.runs = outer
        refused = status == highspy.HighsStatus.kError and h.getModelStatus() == highspy.HighsModelStatus.kNotset
        if not refused or attempt or outer:  # inside another run: its scheduler must stay
            return status
        reset_thread_scheduler()
    return status


@dataclass(frozen=True, eq=False)
class MIPInstance(Instance):
    """One MIP in minimisation form (arrays are read-only by convention)."""

    name: str
    family: str
    cost: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool per column
    objective_sign: float = 1.0  # +1: min problem as given; -1: the original maximised
    col_names: tuple[str, ...] | None = None
    feasible_point: np.ndarray | None = None  # a trivial feasible solution where the generator has one
    params: dict[str, Any] = field(default_factory=dict)
    offset: float = 0.0  # constant objective term of a loaded file (minimisation form; not in ``objective``)

    @property
    def instance_id(self) -> str:
        m = self.matrix
        return content_id(f"mip-{self.family}", self.cost, m.indptr, m.indices, m.data, self.row_lower,
                          self.row_upper, self.col_lower, self.col_upper, self.integer)

    @property
    def num_cols(self) -> int:
        return int(self.cost.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.row_lower.shape[0])

    def names(self) -> list[str]:
        return list(self.col_names) if self.col_names else [f"x{j}" for j in range(self.num_cols)]

    def to_highs(self, *, with_offset: bool = False, **options: Any) -> highspy.Highs:
        """The model as a silent, single-threaded HiGHS (:func:`new_highs` with ``options``), in minimisation form.
        ``with_offset``: with the objective's constant (minimisation form, as :attr:`offset`), so that HiGHS's
        relative gap is the one it measures on the user's own file (the deploy path's full-model run; its values
        are then :meth:`objective` + :attr:`offset`); without it (the default) HiGHS's values match
        :meth:`objective`."""
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.num_cols, self.num_rows
        lp.col_cost_ = self.cost.astype(float)
        lp.col_lower_, lp.col_upper_ = self.col_lower.astype(float), self.col_upper.astype(float)
        lp.row_lower_, lp.row_upper_ = self.row_lower.astype(float), self.row_upper.astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = self.matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = self.matrix.data.astype(float)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.num_cols, self.num_rows
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in self.integer]
        if with_offset:
            lp.offset_ = float(self.offset)
        h = new_highs(**options)
        h.passModel(lp)
        return h

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of bounds, rows and integrality by ``x`` (0 for a feasible point)."""
        ax = self.matrix @ x
        parts = [np.maximum(self.row_lower - ax, 0), np.maximum(ax - self.row_upper, 0),
                 np.maximum(self.col_lower - x, 0), np.maximum(x - self.col_upper, 0),
                 np.abs(x[self.integer] - np.round(x[self.integer]))]
        return float(max((p.max() if p.size else 0.0) for p in parts))

    def objective(self, x: np.ndarray) -> float:
        # Elementwise product + sum, not ``cost @ x``: a BLAS dot may wake a thread pool, and on a loaded
        # machine waking it cost ~5 ms per call (measured), the largest share of LNS time outside HiGHS.
        return float(np.multiply(self.cost, x).sum())


def _instance(name, family, cost, rows, row_lower, row_upper, col_lower, col_upper, integer, params,
              sign=1.0, feasible=None) -> MIPInstance:
    matrix = sp.csc_matrix(rows)
    matrix.sum_duplicates()
    return MIPInstance(name, family, np.asarray(cost, float), matrix, np.asarray(row_lower, float),
                       np.asarray(row_upper, float), np.asarray(col_lower, float),
                       np.asarray(col_upper, float), np.asarray(integer, bool), sign, None, feasible,
                       dict(params))


def set_cover(rng: np.random.Generator, n_rows: int = 500, n_cols: int = 1000, density: float = 0.05,
              max_coef: int = 100) -> MIPInstance:
    """Balas & Ho set cover (Gasse et al.'s generator): every row covered, min total column cost."""
    nnz_per_row = max(2, int(round(density * n_cols)))
    rows, cols = [], []
    for i in range(n_rows):
        chosen = rng.choice(n_cols, nnz_per_row, replace=False)
        rows += [i] * nnz_per_row
        cols += list(chosen)
    uncovered = np.setdiff1d(np.arange(n_cols), cols)  # every column appears at least once
    for j in uncovered:
        rows.append(int(rng.integers(n_rows))); cols.append(int(j))
    A = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, n_cols))
    cost = rng.integers(1, max_coef + 1, n_cols)
    return _instance(f"setcover-{n_rows}x{n_cols}", "setcover", cost, A, np.ones(n_rows),
                     np.full(n_rows, INF), np.zeros(n_cols), np.ones(n_cols), np.ones(n_cols, bool),
                     dict(n_rows=n_rows, n_cols=n_cols, density=density),
                     feasible=_greedy_cover(sp.csc_matrix(A), cost.astype(float)))


def _greedy_cover(A: sp.csc_matrix, cost: np.ndarray) -> np.ndarray:
    """Chvátal's greedy set cover (cheapest cost per newly covered row), the trivial start of LNS."""
    covered = np.zeros(A.shape[0], bool)
    x = np.zeros(A.shape[1])
    A = A.tocsc()
    while not covered.all():
        gain = np.asarray(A[~covered].sum(0)).ravel()
        ratio = np.where(gain > 0, cost / np.maximum(gain, 1), np.inf)
        j = int(np.argmin(ratio))
        x[j] = 1.0
        covered[A.indices[A.indptr[j]:A.indptr[j + 1]]] = True
    return x


def _greedy_packing(A: sp.csc_matrix, score: np.ndarray) -> np.ndarray:
    """Greedy point of a packing problem ``A x <= 1`` (binary x): take columns by decreasing ``score`` while
    no row is used twice (independent set: by degree; auction: by price per item)."""
    used = np.zeros(A.shape[0], bool)
    x = np.zeros(A.shape[1])
    for j in np.argsort(-score, kind="stable"):
        rows = A.indices[A.indptr[j]:A.indptr[j + 1]]
        if not used[rows].any():
            used[rows] = True
            x[j] = 1.0
    return x


def _next_item(in_bundle: np.ndarray, interests: np.ndarray, compat: np.ndarray,
               rng: np.random.Generator) -> int:
    """CATS/Gasse: the next bundle item, by bidder interest times mean compatibility with the bundle."""
    prob = (~in_bundle) * interests * compat[in_bundle].mean(0)
    if prob.sum() <= 0:  # nothing compatible left: any item not yet in the bundle
        prob = (~in_bundle).astype(float)
    return int(rng.choice(len(prob), p=prob / prob.sum()))


def combinatorial_auction(rng: np.random.Generator, n_items: int = 100, n_bids: int = 500,
                          scheme: str = "arbitrary", min_value: float = 1.0, max_value: float = 100.0,
                          value_deviation: float = 0.5, add_item_prob: float = 0.9, max_n_sub_bids: int = 5,
                          additivity: float = 0.2, budget_factor: float = 1.5,
                          resale_factor: float = 0.5) -> MIPInstance:
    """Combinatorial auction, Leyton-Brown et al.'s CATS as generated by Gasse et al. (2019): maximise the
    accepted bid prices, each item sold at most once.

    Items have common (resale) values and pairwise compatibilities: random for ``"arbitrary"``; for
    ``"regions"`` items sit on a jittered grid and compatibility decays with distance. One bidder at a time:
    private values ``value ± max_value * value_deviation``, a first bundle grown item by item (interest x
    mean compatibility, each addition with ``add_item_prob``), price = private values + ``|bundle|^(1 +
    additivity)``; then one substitutable bundle per item of the first (same size, grown from that item),
    kept if within ``budget_factor`` x price and above ``resale_factor`` x resale value, at most
    ``max_n_sub_bids``. Bidders with more than two bids get a dummy item (an XOR row), as in Gasse et al.
    """
    if scheme not in ("arbitrary", "regions"):
        raise ConfigError(f"unknown auction scheme {scheme!r}", value=scheme)
    values = min_value + (max_value - min_value) * rng.random(n_items)
    if scheme == "arbitrary":
        compat = np.triu(rng.random((n_items, n_items)), 1)
        compat = compat + compat.T
    else:
        side = int(np.ceil(np.sqrt(n_items)))
        pos = np.stack([np.arange(n_items) // side, np.arange(n_items) % side], 1).astype(float)
        pos += 0.3 * rng.random(pos.shape)
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=2)
        compat = np.exp(-dist) * (dist > 0)
    compat = compat / compat.sum(1, keepdims=True)
    bids: list[tuple[list[int], float]] = []
    n_dummy = 0
    while len(bids) < n_bids:
        interests = rng.random(n_items)
        private = values + max_value * value_deviation * (2 * interests - 1)
        in_bundle = np.zeros(n_items, bool)
        in_bundle[int(rng.choice(n_items, p=interests / interests.sum()))] = True
        while rng.random() < add_item_prob and not in_bundle.all():
            in_bundle[_next_item(in_bundle, interests, compat, rng)] = True
        bundle = np.flatnonzero(in_bundle)
        price = private[bundle].sum() + len(bundle) ** (1 + additivity)
        if price < 0:
            continue
        bidder = {frozenset(bundle.tolist()): price}
        candidates = []
        for item in bundle:
            sub = np.zeros(n_items, bool)
            sub[item] = True
            while sub.sum() < len(bundle):
                sub[_next_item(sub, interests, compat, rng)] = True
            sub_bundle = np.flatnonzero(sub)
            candidates.append((sub_bundle, private[sub_bundle].sum() + len(sub_bundle) ** (1 + additivity)))
        budget, min_resale = budget_factor * price, resale_factor * values[bundle].sum()
        for k in np.argsort([-c[1] for c in candidates], kind="stable"):
            sub_bundle, sub_price = candidates[k]
            if len(bidder) >= max_n_sub_bids + 1 or len(bids) + len(bidder) >= n_bids:
                break
            key = frozenset(sub_bundle.tolist())
            if sub_price < 0 or sub_price > budget or values[sub_bundle].sum() < min_resale or key in bidder:
                continue
            bidder[key] = sub_price
        dummy = [n_items + n_dummy] if len(bidder) > 2 else []
        n_dummy += bool(dummy)
        for items, p in bidder.items():
            bids.append((sorted(items) + dummy, p))
    bids = bids[:n_bids]
    n_rows = n_items + n_dummy
    rows = [i for b, _ in bids for i in b]
    cols = [j for j, (b, _) in enumerate(bids) for _ in b]
    A = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, n_bids))
    prices = np.array([p for _, p in bids])
    return _instance(f"auction-{scheme}-{n_items}x{n_bids}", "auction", -np.round(prices, 2), A,
                     np.full(n_rows, -INF), np.ones(n_rows), np.zeros(n_bids), np.ones(n_bids),
                     np.ones(n_bids, bool), dict(n_items=n_items, n_bids=n_bids, scheme=scheme), sign=-1.0,
                     feasible=_greedy_packing(sp.csc_matrix(A), np.round(prices, 2) / np.diff(sp.csc_matrix(A).indptr)))


def facility_location(rng: np.random.Generator, n_customers: int = 100, n_facilities: int = 100,
                      ratio: float = 5.0) -> MIPInstance:
    """Capacitated facility location (Cornuejols et al. 1991, as in Gasse et al.): open facilities
    (binary y) and serve each customer's demand fractionally (x in [0,1])."""
    nc, nf = n_customers, n_facilities
    cx, cy, fx, fy = rng.random(nc), rng.random(nc), rng.random(nf), rng.random(nf)
    demand = rng.integers(5, 36, nc).astype(float)
    capacity = rng.integers(10, 161, nf).astype(float)
    fixed = (rng.integers(100, 111, nf) * np.sqrt(capacity) + rng.integers(0, 91, nf)).astype(float)
    capacity *= ratio * demand.sum() / capacity.sum()
    trans = np.hypot(cx[:, None] - fx[None], cy[:, None] - fy[None]) * 10 * demand[:, None]
    n = nc * nf + nf  # x_ij at i*nf+j, y_j at nc*nf+j
    xi = lambda i, j: i * nf + j
    r, c, v, lo, up = [], [], [], [], []
    row = 0
    for i in range(nc):  # demand met
        for j in range(nf):
            r.append(row); c.append(xi(i, j)); v.append(1.0)
        lo.append(1.0); up.append(1.0); row += 1
    for j in range(nf):  # capacity
        for i in range(nc):
            r.append(row); c.append(xi(i, j)); v.append(demand[i])
        r.append(row); c.append(nc * nf + j); v.append(-capacity[j]); lo.append(-INF); up.append(0.0); row += 1
    r.append(row); c += list(range(nc * nf, n)); r += [row] * (nf - 1); v += list(capacity)  # total capacity
    lo.append(demand.sum()); up.append(INF); row += 1
    for i in range(nc):  # tightening x_ij <= y_j
        for j in range(nf):
            r += [row, row]; c += [xi(i, j), nc * nf + j]; v += [1.0, -1.0]; lo.append(-INF); up.append(0.0); row += 1
    A = sp.coo_matrix((v, (r, c)), shape=(row, n))
    integer = np.zeros(n, bool); integer[nc * nf:] = True
    return _instance(f"facility-{nc}x{nf}", "facility", np.concatenate([trans.ravel(), fixed]), A, lo, up,
                     np.zeros(n), np.ones(n), integer, dict(n_customers=nc, n_facilities=nf, ratio=ratio),
                     feasible=_facility_start(trans, demand, capacity))


def _facility_start(trans: np.ndarray, demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Trivial feasible point: every facility open, each customer served greedily by its cheapest
    facilities with capacity left (fractionally where one fills up). Total capacity is ``ratio`` times the
    total demand, so the greedy never runs out."""
    nc, nf = trans.shape
    left = capacity.copy()
    x = np.zeros((nc, nf))
    for i in range(nc):
        need = demand[i]
        for j in np.argsort(trans[i], kind="stable"):
            if need <= 1e-12:
                break
            share = min(need, left[j])
            if share > 0:
                x[i, j] = share / demand[i]
                left[j] -= share
                need -= share
        x[i] /= x[i].sum()  # exact row sum 1 despite rounding
    return np.concatenate([x.ravel(), np.ones(nf)])


def independent_set(rng: np.random.Generator, n_nodes: int = 500, affinity: int = 4) -> MIPInstance:
    """Maximum independent set on a Barabási–Albert graph with Gasse et al.'s clique formulation
    (greedy clique partition of the edges, one row per clique)."""
    edges = set()
    for new in range(affinity + 1, n_nodes):
        pass
    degrees = np.zeros(n_nodes)
    for u in range(affinity + 1):
        for w in range(u + 1, affinity + 1):
            edges.add((u, w)); degrees[u] += 1; degrees[w] += 1
    for new in range(affinity + 1, n_nodes):
        p = degrees[:new] / degrees[:new].sum()
        for w in rng.choice(new, affinity, replace=False, p=p):
            edges.add((int(w), new)); degrees[w] += 1; degrees[new] += 1
    neighbours = [set() for _ in range(n_nodes)]
    for u, w in edges:
        neighbours[u].add(w); neighbours[w].add(u)
    remaining = {tuple(sorted(e)) for e in edges}
    cliques = []
    for u in np.argsort(-degrees, kind="stable"):
        u = int(u)
        while True:
            cand = [w for w in neighbours[u] if tuple(sorted((u, w))) in remaining]
            if not cand:
                break
            clique = [u]
            for w in sorted(cand, key=lambda w: -degrees[w]):
                if all(w in neighbours[q] for q in clique):
                    clique.append(w)
            for a in range(len(clique)):
                for b in range(a + 1, len(clique)):
                    remaining.discard(tuple(sorted((clique[a], clique[b]))))
            cliques.append(clique)
    r = [k for k, cl in enumerate(cliques) for _ in cl]
    c = [w for cl in cliques for w in cl]
    A = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(len(cliques), n_nodes))
    return _instance(f"indset-{n_nodes}", "indset", -np.ones(n_nodes), A, np.full(len(cliques), -INF),
                     np.ones(len(cliques)), np.zeros(n_nodes), np.ones(n_nodes), np.ones(n_nodes, bool),
                     dict(n_nodes=n_nodes, affinity=affinity), sign=-1.0,
                     feasible=_greedy_packing(sp.csc_matrix(A), -degrees))


def multi_knapsack(rng: np.random.Generator, n_items: int = 250, n_knapsacks: int = 10,
                   tightness: float = 0.5) -> MIPInstance:
    """Multidimensional knapsack (Chu & Beasley 1998's generator): weights U{0..1000}, capacities
    ``tightness`` x the row sums, profits correlated with the weights; maximise. Held out from every
    tuning run (not in :data:`GENERATORS`)."""
    w = rng.integers(0, 1001, (n_knapsacks, n_items)).astype(float)
    capacity = np.floor(tightness * w.sum(1))
    profit = np.round(w.sum(0) / n_knapsacks + 500 * rng.random(n_items))
    return _instance(f"mknap-{n_items}x{n_knapsacks}", "mknap", -profit, sp.coo_matrix(w),
                     np.full(n_knapsacks, -INF), capacity, np.zeros(n_items), np.ones(n_items),
                     np.ones(n_items, bool), dict(n_items=n_items, n_knapsacks=n_knapsacks, tightness=tightness),
                     sign=-1.0)


def generalized_assignment(rng: np.random.Generator, n_agents: int = 10, n_jobs: int = 100) -> MIPInstance:
    """Generalized assignment, Chu & Beasley's type D (hard, costs anti-correlated with resource use): every
    job to one agent within the agents' capacities, minimum cost. Held out (not in :data:`GENERATORS`)."""
    m, n = n_agents, n_jobs
    r = rng.integers(1, 101, (m, n)).astype(float)
    c = 111 - r + rng.integers(-10, 11, (m, n))
    capacity = np.floor(0.8 * r.sum(1) / m)
    var = lambda i, j: i * n + j  # noqa: E731
    rows, cols, vals = [], [], []
    for j in range(n):  # each job exactly once
        for i in range(m):
            rows.append(j); cols.append(var(i, j)); vals.append(1.0)
    for i in range(m):  # capacity
        for j in range(n):
            rows.append(n + i); cols.append(var(i, j)); vals.append(r[i, j])
    A = sp.coo_matrix((vals, (rows, cols)), shape=(n + m, m * n))
    return _instance(f"gap-{m}x{n}", "gap", c.ravel(), A, np.r_[np.ones(n), np.full(m, -INF)],
                     np.r_[np.ones(n), capacity], np.zeros(m * n), np.ones(m * n), np.ones(m * n, bool),
                     dict(n_agents=m, n_jobs=n))


def max_cut(rng: np.random.Generator, n_nodes: int = 60, edge_prob: float = 0.3) -> MIPInstance:
    """Weighted max-cut on an Erdős–Rényi graph (weights U{1..10}) in the standard edge formulation
    (``y_e <= x_u + x_v``, ``y_e <= 2 - x_u - x_v``): a weak LP bound that HiGHS struggles to close.
    Held out (not in :data:`GENERATORS`)."""
    iu, ju = np.triu_indices(n_nodes, 1)
    keep = rng.random(len(iu)) < edge_prob
    iu, ju = iu[keep], ju[keep]
    weight = rng.integers(1, 11, len(iu)).astype(float)
    n_edges = len(iu)
    rows, cols, vals = [], [], []
    for e, (u, v) in enumerate(zip(iu, ju)):
        y = n_nodes + e
        rows += [2 * e] * 3; cols += [y, int(u), int(v)]; vals += [1.0, -1.0, -1.0]  # y - xu - xv <= 0
        rows += [2 * e + 1] * 3; cols += [y, int(u), int(v)]; vals += [1.0, 1.0, 1.0]  # y + xu + xv <= 2
    A = sp.coo_matrix((vals, (rows, cols)), shape=(2 * n_edges, n_nodes + n_edges))
    n = n_nodes + n_edges
    return _instance(f"maxcut-{n_nodes}", "maxcut", np.r_[np.zeros(n_nodes), -weight], A,
                     np.full(2 * n_edges, -INF), np.tile([0.0, 2.0], n_edges), np.zeros(n), np.ones(n),
                     np.ones(n, bool), dict(n_nodes=n_nodes, edge_prob=edge_prob), sign=-1.0)


#: families no tuner was trained or tuned on (the deploy benchmark's held-out workloads)
HELDOUT_GENERATORS = {"mknap": multi_knapsack, "gap": generalized_assignment, "maxcut": max_cut}

GENERATORS = {"setcover": set_cover, "auction": combinatorial_auction, "facility": facility_location,
              "indset": independent_set}

# Tiny sizes (env default, tests) and realistic ones (benchmarks; HiGHS does not close these in seconds).
TINY = {"setcover": dict(n_rows=60, n_cols=120), "auction": dict(n_items=25, n_bids=100),
        "facility": dict(n_customers=15, n_facilities=10), "indset": dict(n_nodes=80)}
REALISTIC = {"setcover": dict(n_rows=500, n_cols=1000), "auction": dict(n_items=200, n_bids=1000),
             "facility": dict(n_customers=100, n_facilities=100), "indset": dict(n_nodes=1500)}


class MIPFamilyDistribution(Distribution):
    """Draws instances of one or several generator families with fixed size parameters."""

    name = "mip-family"
    version = 0

    def __init__(self, families=("setcover", "auction", "facility", "indset"), sizes: dict | None = None):
        families = (families,) if isinstance(families, str) else tuple(families)
        for f in families:
            if f not in GENERATORS:
                raise ConfigError(f"unknown MIP family {f!r}; known: {sorted(GENERATORS)}", value=f)
        self.families = families
        self.sizes = {f: dict((sizes or TINY).get(f, {})) for f in families}

    @property
    def params(self) -> dict[str, Any]:
        return {"families": list(self.families), "sizes": self.sizes}

    def sample(self, rng: np.random.Generator) -> MIPInstance:
        family = self.families[int(rng.integers(len(self.families)))]
        return GENERATORS[family](rng, **self.sizes[family])


def load_model(path: str | Path | highspy.Highs, check: bool = True) -> MIPInstance:
    """Read an MPS/LP file (also gzipped, as HiGHS reads it) or take a built ``highspy.Highs`` as a
    :class:`MIPInstance`.

    Raises :class:`MalformedModelError` for a path that is not a readable model file, a model with no columns,
    NaN or infinite costs or coefficients, or column names that do not name one column each (the solution
    maps names to values; empty names become ``x{j}``, or ``x{j}_`` where the model names another column
    ``x{j}``); :class:`UnsupportedModelError` for semi-continuous or semi-integer columns and for a quadratic
    objective (``getLp()`` would drop it); :class:`NoIntegerVariablesError`; and with ``check`` (an
    LP-relaxation solve) :class:`InfeasibleModelError` / :class:`UnboundedRelaxationError`. A ``highspy.Highs``
    is only read (a row-wise matrix is converted in a copy).
    """
    if isinstance(path, highspy.Highs):
        h, name = path, "highs-model"
    elif isinstance(path, (str, os.PathLike)):
        p = Path(path)
        if not p.is_file():
            what = "a directory, not a model file" if p.is_dir() else "no model file"
            raise MalformedModelError(f"{p}: {what} (give an .mps, .mps.gz or .lp file)", value=str(p))
        h = new_highs()
        if h.readModel(str(p)) == highspy.HighsStatus.kError:
            suffix = p.name.lower().removesuffix(".gz").rsplit(".", 1)
            hint = "" if len(suffix) == 2 and suffix[1] in ("mps", "lp") else \
                " (HiGHS takes the format from the name: .mps, .lp, optionally .gz)"
            raise MalformedModelError(f"HiGHS could not read {p} as an MPS/LP model{hint}", value=str(p))
        name = p.name.removesuffix(".gz").rsplit(".", 1)[0] if "." in p.name else p.name
    else:
        raise MalformedModelError(f"a model is an MPS/LP path, a highspy.Highs or a MIPInstance, got "
                                  f"{type(path).__name__}", value=path)
    lp = h.getLp()
    n = lp.num_col_
    if n == 0:
        raise MalformedModelError(f"{name} has no columns (an empty model: nothing to solve)", value=name)
    sense = -1.0 if lp.sense_ == highspy.ObjSense.kMaximize else 1.0
    kinds = list(lp.integrality_) if len(lp.integrality_) == n else []
    semi = [j for j, t in enumerate(kinds) if t in (highspy.HighsVarType.kSemiContinuous,
                                                     highspy.HighsVarType.kSemiInteger)]
    if semi:
        first = lp.col_names_[semi[0]] if len(lp.col_names_) == n and lp.col_names_[semi[0]] else f"x{semi[0]}"
        raise UnsupportedModelError(f"{name} has {len(semi)} semi-continuous/semi-integer column(s) (first: "
                                    f"{first!r}); LNSSolver supports continuous and integer columns only", value=first)
    hessian = h.getModel().hessian_ if hasattr(h, "getModel") else None
    if hessian is not None and hessian.dim_ > 0 and np.any(np.array(hessian.value_, dtype=float) != 0):
        # getLp() drops the quadratic term: the LNS would solve the linear part and call its optimum this model's
        raise UnsupportedModelError(f"{name} has a quadratic objective (a Hessian of dimension {hessian.dim_}); "
                                    f"LNSSolver solves linear MIPs only", value=name)
    integ = np.array([t != highspy.HighsVarType.kContinuous for t in kinds], bool) if kinds else np.zeros(n, bool)
    if not integ.any():
        raise NoIntegerVariablesError(f"{name} has no integer variables (an LP: nothing for LNS to do)", value=name)
    a = lp.a_matrix_
    # The copy getLp() returned is read as it is stored (never h.ensureColwise(): that would change the user's model)
    if a.format_ == highspy.MatrixFormat.kColwise:
        matrix = sp.csc_matrix((np.array(a.value_, dtype=float), np.array(a.index_), np.array(a.start_)),
                               shape=(lp.num_row_, n))
    else:  # row-wise (partitioned or not: every entry lies between a row's start and the next row's)
        matrix = sp.csr_matrix((np.array(a.value_, dtype=float), np.array(a.index_), np.array(a.start_)),
                               shape=(lp.num_row_, n)).tocsc()
    matrix.sum_duplicates()
    cost = np.array(lp.col_cost_, dtype=float)
    bad_cost = np.flatnonzero(~np.isfinite(cost) | (np.abs(cost) >= _INFINITE_COST))
    if len(bad_cost):
        raise MalformedModelError(f"{name}: column {bad_cost[0]} has cost {cost[bad_cost[0]]} (NaN, or at least "
                                  f"HiGHS's infinite cost {_INFINITE_COST:g})", value=float(cost[bad_cost[0]]))
    if not np.isfinite(matrix.data).all():
        raise MalformedModelError(f"{name}: the constraint matrix has NaN or infinite coefficients", value=name)
    bounds = [np.array(v, dtype=float) for v in (lp.row_lower_, lp.row_upper_, lp.col_lower_, lp.col_upper_)]
    if any(np.isnan(b).any() for b in bounds):
        raise MalformedModelError(f"{name}: a row or column bound is NaN", value=name)
    offset = float(getattr(lp, "offset_", 0.0) or 0.0)
    if not np.isfinite(offset):
        raise MalformedModelError(f"{name}: the objective constant is {offset}", value=offset)
    names = _column_names(list(lp.col_names_), n, name)
    inst = MIPInstance(name, "file", sense * cost, matrix, *bounds, integ,
                       sense, names, None, {"source": str(path) if not isinstance(path, highspy.Highs) else name},
                       sense * offset)
    if check:
        relax = lp_relaxation(inst)  # raises on infeasible / unbounded
        del relax
    return inst


def _column_names(names: list[str], n: int, model: str) -> tuple[str, ...] | None:
    """The model's column names with empty ones as ``x{j}`` (None where it names none); MalformedModelError
    where two columns share a name, since the solution file maps each name to one value. A made-up name never
    takes one the model uses (``x1`` of an unnamed column 1 beside a column named ``x1`` becomes ``x1_``)."""
    if len(names) != n or not any(names):
        return None
    names = [str(v) for v in names]
    seen: dict[str, int] = {}
    for j, v in enumerate(names):
        if not v:
            continue
        if v in seen:
            raise MalformedModelError(f"{model}: columns {seen[v]} and {j} are both named {v!r} (the solution "
                                      f"maps each column name to one value)", value=v)
        seen[v] = j
    for j, v in enumerate(names):
        if not v:
            made = f"x{j}"
            while made in seen:
                made += "_"
            names[j] = made
            seen[made] = j
    return tuple(names)


def lp_relaxation(inst: MIPInstance, time_limit: float | None = None) -> tuple[np.ndarray | None, float]:
    """LP-relaxation solution and value; typed errors for infeasible/unbounded relaxations.

    With ``time_limit`` (seconds) a relaxation not solved in time gives ``(None, -inf)``: callers treat it
    as unknown (the LP-guided operators then fall back to random neighbourhoods) instead of waiting.
    """
    started = time.perf_counter()
    h = inst.to_highs() if time_limit is None else inst.to_highs(time_limit=max(float(time_limit), 1e-3))
    h.changeColsIntegrality(inst.num_cols, np.arange(inst.num_cols, dtype=np.int32),
                            np.full(inst.num_cols, highspy.HighsVarType.kContinuous))
    run_highs(h)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
        # Presolve cannot tell which; the simplex without it can (an infeasible model is no "unbounded" one)
        h.setOptionValue("presolve", "off")
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit) - (time.perf_counter() - started), 1e-3))
        run_highs(h)
        status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise InfeasibleModelError(f"{inst.name}: the LP relaxation is infeasible", value=inst.name)
    if status == highspy.HighsModelStatus.kUnbounded:
        raise UnboundedRelaxationError(f"{inst.name}: the LP relaxation is unbounded", value=inst.name)
    if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
        raise UnboundedRelaxationError(f"{inst.name}: the LP relaxation is infeasible or unbounded (HiGHS cannot tell "
                                       f"which)", value=inst.name)
    if time_limit is not None and status in (highspy.HighsModelStatus.kTimeLimit,
                                             highspy.HighsModelStatus.kIterationLimit):
        return None, -INF
    if status != highspy.HighsModelStatus.kOptimal:
        raise InstanceError(f"{inst.name}: LP relaxation ended with {h.modelStatusToString(status)}", value=inst.name)
    return np.array(h.getSolution().col_value), float(h.getInfo().objective_function_value)


def infeasible_or_unbounded(inst: MIPInstance, *, has_point: bool, time_limit: float | None = None,
                            max_nodes: int | None = None) -> InstanceError:
    """The typed error for a HiGHS run that ended "unbounded" or "unbounded or infeasible" (presolve often cannot
    tell which): :class:`UnboundedRelaxationError` where the model has a feasible point (``has_point``, or one the
    zero-objective model gives), :class:`InfeasibleModelError` where the zero-objective model has none, and an
    :class:`UnboundedRelaxationError` saying both are possible where HiGHS cannot tell within ``time_limit`` /
    ``max_nodes``. Returned, not raised, so that the caller raises it from its own frame."""
    if not has_point:
        limits: dict[str, Any] = {}
        if time_limit is not None:
            limits["time_limit"] = max(float(time_limit), 1e-3)
        if max_nodes is not None:
            limits["mip_max_nodes"] = int(max(max_nodes, 1))
        h = inst.to_highs(**limits)  # a feasibility problem: it cannot be unbounded
        h.changeColsCost(inst.num_cols, np.arange(inst.num_cols, dtype=np.int32), np.zeros(inst.num_cols))
        run_highs(h)
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return InfeasibleModelError(f"{inst.name}: the model is infeasible", value=inst.name)
        x = np.array(h.getSolution().col_value) if h.getSolution().value_valid else np.zeros(0)
        has_point = len(x) == inst.num_cols and inst.violation(x) <= 1e-6
        if not has_point:
            return UnboundedRelaxationError(f"{inst.name}: HiGHS found the model infeasible or unbounded and could "
                                            f"not tell which within the limit", value=inst.name)
    return UnboundedRelaxationError(f"{inst.name}: the model is unbounded (it has feasible points: the objective "
                                    f"improves without limit)", value=inst.name)


class HeldOutFamilyDistribution(Distribution):
    """Draws instances of one held-out family (:data:`HELDOUT_GENERATORS`) with fixed size parameters: the
    deploy benchmark's workloads (suite ``mip-deploy-heldout``), never seen by any tuning run."""

    name = "mip-heldout"
    version = 0

    def __init__(self, family: str, **params: Any) -> None:
        if family not in HELDOUT_GENERATORS:
            raise ConfigError(f"unknown held-out MIP family {family!r}; known: {sorted(HELDOUT_GENERATORS)}",
                              value=family)
        self.family, self.sizes = family, dict(params)

    @property
    def params(self) -> dict[str, Any]:
        return {"family": self.family, **self.sizes}

    def sample(self, rng: np.random.Generator) -> MIPInstance:
        return HELDOUT_GENERATORS[self.family](rng, **self.sizes)
