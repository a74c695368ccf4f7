"""Fourth-order Hermite N-body integrator with a shared, η-scaled time step, batched over systems.

The process behind ``tunegym/ThreeBody-v0`` (Saz Ulibarrena & Portegies Zwart, arXiv 2502.12809). It must
stay usable without Gymnasium: :func:`simulate` integrates a batch of systems to ``t_end`` and reports the
deterministic cost (force evaluations), the steps taken and the relative energy error. It must not decide
anything about rewards or episodes.

Scheme (Makino & Aarseth 1992, PASJ 44, 141), per step of length ``dt``::

    predict   x_p = x + v dt + a dt²/2 + j dt³/6,      v_p = v + a dt + j dt²/2
    evaluate  a_1, j_1 = force(x_p, v_p)                       (one force evaluation)
    correct   v_1 = v + (a + a_1) dt/2 + (j - j_1) dt²/12
              x_1 = x + (v + v_1) dt/2 + (a - a_1) dt²/12

and ``a_1, j_1`` are reused at the start of the next step (PEC mode), so a step costs exactly one force
evaluation (all pairs once) plus one at the very start of a run. The global error is O(dt⁴).

Time step (shared by all bodies of one system)::

    dt = η · min over pairs (i, j) of min( |r_ij| / |v_ij| ,  sqrt(|r_ij|³ / (G (m_i + m_j))) )

the pairwise *collision time* (distance over relative speed; skipped when the relative speed is 0) and the
*free-fall time*. The last step of a run is shortened to land exactly on ``t_end``.

Units: any consistent set; the two usual ones are
- astronomical: lengths in au, masses in M☉, time in yr, ``G = 4π²`` (:data:`G_AU_MSUN_YR`, the default);
- N-body (Hénon) units: ``G = 1`` (:data:`G_NBODY`), total mass 1, virial radius 1.

A run never returns NaN: it stops with a status instead (:data:`STATUS_NAMES`): ``"ok"``,
``"close_encounter"`` (two bodies came closer than ``min_separation``, or the step fell under
``min_timestep``), ``"diverged"`` (a non-finite value appeared; the last finite state is returned) or
``"max_steps"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from tunegym.envs.core.errors import ConfigError, InstanceError

__all__ = [
    "G_AU_MSUN_YR",
    "G_NBODY",
    "STATUS_NAMES",
    "SimulationResult",
    "crossing_time",
    "simulate",
    "timestep_criterion",
    "total_energy",
    "validate_system",
]

#: Gravitational constant in au³ M☉⁻¹ yr⁻² (the paper's units).
G_AU_MSUN_YR = 4.0 * math.pi**2
#: Gravitational constant in N-body units.
G_NBODY = 1.0

STATUS_OK, STATUS_CLOSE, STATUS_DIVERGED, STATUS_MAX_STEPS = 0, 1, 2, 3
#: Status code -> name.
STATUS_NAMES = ("ok", "close_encounter", "diverged", "max_steps")


# -- kernels (numba: the adaptive time loop cannot be vectorised) ----------------------------------------
@numba.njit(cache=True, fastmath=False)
def _force(m, x, x_off, v, v_off, G, acc, jerk):
    """Accelerations and jerks at positions ``x + x_off`` and velocities ``v + v_off``; returns min r².

    Pair differences are taken as ``(x_j - x_i) + (x_off_j - x_off_i)`` so that a small offset (the predictor's
    displacement) keeps its bits when two bodies sit close together far from the origin.
    """
    n = x.shape[0]
    min_r2 = np.inf
    for i in range(n):
        for k in range(3):
            acc[i, k] = 0.0
            jerk[i, k] = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx0 = (x[j, 0] - x[i, 0]) + (x_off[j, 0] - x_off[i, 0])
            dx1 = (x[j, 1] - x[i, 1]) + (x_off[j, 1] - x_off[i, 1])
            dx2 = (x[j, 2] - x[i, 2]) + (x_off[j, 2] - x_off[i, 2])
            dv0 = (v[j, 0] - v[i, 0]) + (v_off[j, 0] - v_off[i, 0])
            dv1 = (v[j, 1] - v[i, 1]) + (v_off[j, 1] - v_off[i, 1])
            dv2 = (v[j, 2] - v[i, 2]) + (v_off[j, 2] - v_off[i, 2])
            r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
            min_r2 = min(min_r2, r2)
            r2inv = 1.0 / r2
            r3inv = r2inv * math.sqrt(r2inv)
            rv = 3.0 * (dx0 * dv0 + dx1 * dv1 + dx2 * dv2) * r2inv
            a0, a1, a2 = dx0 * r3inv, dx1 * r3inv, dx2 * r3inv
            j0 = (dv0 - rv * dx0) * r3inv
            j1 = (dv1 - rv * dx1) * r3inv
            j2 = (dv2 - rv * dx2) * r3inv
            gi, gj = G * m[i], G * m[j]
            acc[i, 0] += gj * a0
            acc[i, 1] += gj * a1
            acc[i, 2] += gj * a2
            acc[j, 0] -= gi * a0
            acc[j, 1] -= gi * a1
            acc[j, 2] -= gi * a2
            jerk[i, 0] += gj * j0
            jerk[i, 1] += gj * j1
            jerk[i, 2] += gj * j2
            jerk[j, 0] -= gi * j0
            jerk[j, 1] -= gi * j1
            jerk[j, 2] -= gi * j2
    return min_r2


@numba.njit(cache=True)
def _criterion(m, x, v, G):
    n = x.shape[0]
    best = np.inf
    for i in range(n):
        for j in range(i + 1, n):
            dx0 = x[j, 0] - x[i, 0]
            dx1 = x[j, 1] - x[i, 1]
            dx2 = x[j, 2] - x[i, 2]
            dv0 = v[j, 0] - v[i, 0]
            dv1 = v[j, 1] - v[i, 1]
            dv2 = v[j, 2] - v[i, 2]
            r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
            v2 = dv0 * dv0 + dv1 * dv1 + dv2 * dv2
            r = math.sqrt(r2)
            free_fall = math.sqrt(r2 * r / (G * (m[i] + m[j])))
            best = min(best, free_fall)
            if v2 > 0.0:
                collision = r / math.sqrt(v2)
                best = min(best, collision)
    return best


@numba.njit(cache=True)
def _advance(m, x, v, acc, jerk, x_comp, v_comp, t, t_end, eta, G, max_steps, min_sep2, min_dt, beta, t_ref):
    """Advance one system in place from ``t`` to ``t_end``; ``acc``/``jerk`` must be valid for (x, v).

    The step is ``dt = eta·τ`` (τ: :func:`_criterion`), or ``eta·τ·(τ/t_ref)^beta`` with a criterion exponent
    ``beta != 0`` (see :func:`simulate`).

    ``x_comp``/``v_comp`` carry the Kahan compensation of the corrector updates (the low-order bits that
    ``x + Δx`` rounded away; zeros for a fresh run) and are updated in place. Without them the energy error
    of a tight binary far from the origin stops falling with η near 1e-10 and then grows (each of the ~10⁵
    steps rounds ``|x|·2⁻⁵³``); with them it keeps falling as η⁴ (``benchmarks/timestep.md``).

    Returns (status, steps, t). On any non-ok status the state is the last finite one.
    """
    n = x.shape[0]
    xp = np.empty_like(x)
    vp = np.empty_like(v)
    a1 = np.empty_like(acc)
    j1 = np.empty_like(jerk)
    xc_new = np.empty_like(x)
    vc_new = np.empty_like(v)
    steps = 0
    span = t_end - t
    while t_end - t > 1e-14 * span:
        if steps >= max_steps:
            return STATUS_MAX_STEPS, steps, t
        tau = _criterion(m, x, v, G)
        dt = eta * tau if beta == 0.0 else eta * tau * (tau / t_ref) ** beta
        if not (dt >= min_dt):  # also catches NaN
            return STATUS_CLOSE, steps, t
        dt = min(dt, t_end - t)
        dt2 = dt * dt
        dt3 = dt2 * dt
        for i in range(n):
            for k in range(3):
                # Predicted displacements (compensated), not positions: see ``_force``.
                xp[i, k] = v[i, k] * dt + acc[i, k] * dt2 / 2.0 + jerk[i, k] * dt3 / 6.0 - x_comp[i, k]
                vp[i, k] = acc[i, k] * dt + jerk[i, k] * dt2 / 2.0 - v_comp[i, k]
        min_r2 = _force(m, x, xp, v, vp, G, a1, j1)
        steps += 1
        if min_r2 < min_sep2:
            return STATUS_CLOSE, steps, t
        finite = True
        for i in range(n):
            for k in range(3):
                # Corrector increments, added with Kahan compensation (x and v are ~10⁴ times the increments).
                dv = (acc[i, k] + a1[i, k]) * dt / 2.0 + (jerk[i, k] - j1[i, k]) * dt2 / 12.0 - v_comp[i, k]
                vnew = v[i, k] + dv
                v_round = (vnew - v[i, k]) - dv
                v_true = v[i, k] - v_comp[i, k]  # the compensated old velocity for the position update
                dx = (v_true + vnew - v_round) * dt / 2.0 + (acc[i, k] - a1[i, k]) * dt2 / 12.0 - x_comp[i, k]
                xnew = x[i, k] + dx
                if not (math.isfinite(vnew) and math.isfinite(xnew)):
                    finite = False
                xp[i, k] = xnew
                vp[i, k] = vnew
                x_round = (xnew - x[i, k]) - dx
                xc_new[i, k] = x_round
                vc_new[i, k] = v_round
        if not finite:
            return STATUS_DIVERGED, steps, t
        for i in range(n):
            for k in range(3):
                x[i, k] = xp[i, k]
                v[i, k] = vp[i, k]
                x_comp[i, k] = xc_new[i, k]
                v_comp[i, k] = vc_new[i, k]
                acc[i, k] = a1[i, k]
                jerk[i, k] = j1[i, k]
        t += dt
    return STATUS_OK, steps, t_end


@numba.njit(cache=True)
def _simulate_batch(m, x, v, t_end, eta, G, max_steps, min_sep2, min_dt, beta, t_ref, status, steps, times):
    batch = x.shape[0]
    acc = np.empty((x.shape[1], 3))
    jerk = np.empty((x.shape[1], 3))
    x_comp = np.empty((x.shape[1], 3))
    v_comp = np.empty((x.shape[1], 3))
    zeros = np.empty((x.shape[1], 3))
    for b in range(batch):
        zeros[:] = 0.0
        _force(m[b], x[b], zeros, v[b], zeros, G, acc, jerk)
        x_comp[:] = 0.0
        v_comp[:] = 0.0
        s, k, t = _advance(m[b], x[b], v[b], acc, jerk, x_comp, v_comp, 0.0, t_end[b], eta[b], G, max_steps, min_sep2[b],
                           min_dt, beta[b], t_ref[b])
        status[b] = s
        steps[b] = k
        times[b] = t


# -- public API -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationResult:
    """Outcome of :func:`simulate`; arrays have a leading batch axis iff the input had one."""

    positions: np.ndarray
    velocities: np.ndarray
    time: np.ndarray | float
    steps: np.ndarray | int
    force_evaluations: np.ndarray | int
    energy_error: np.ndarray | float  # relative: (E - E0) / |E0|
    status: np.ndarray | str

    @property
    def ok(self) -> bool | np.ndarray:
        return np.asarray(self.status) == "ok" if np.ndim(self.status) else self.status == "ok"


def _real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array; ragged, non-numeric or complex input raises :class:`InstanceError` (numpy's
    own errors would name no argument, and complex values would silently lose their imaginary part)."""
    try:
        arr = np.asarray(value)
        if np.iscomplexobj(arr):
            raise TypeError("complex values")
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InstanceError(f"{name} must be a real numeric array, got {type(value).__name__} ({exc})",
                            value=value) from exc


def _scalar_setting(name: str, value, *, minimum: float = 0.0, strict: bool = True) -> float:
    """A finite real scalar ``> minimum`` (``>= minimum`` if not ``strict``), else :class:`ConfigError`: settings
    such as G or ``min_separation`` reach the kernel as floats, where NaN or a sign error would silently change
    what counts as a close encounter."""
    try:
        if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0 or np.iscomplexobj(value):
            raise TypeError(type(value).__name__)
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a real scalar, got {value!r}", value=value) from exc
    if not (math.isfinite(out) and (out > minimum if strict else out >= minimum)):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ConfigError(f"{name} must be finite and {bound}, got {value!r}", value=value)
    return out


def _initial_energy(m: np.ndarray, x: np.ndarray, v: np.ndarray, G: float) -> np.ndarray:
    """Each system's total energy ``E0`` (:func:`total_energy`'s sum); systems whose ``E0`` is zero to rounding
    (or not finite) are refused: every result reports the relative error ``(E - E0) / |E0|``, which would be a
    division by zero or pure round-off noise."""
    kinetic, potential = _energies(m, x, v, G)
    initial_energy = kinetic + potential
    bad = ~np.isfinite(initial_energy) | (np.abs(initial_energy) <= 16 * np.finfo(np.float64).eps
                                          * (kinetic + np.abs(potential)))
    if np.any(bad):
        raise InstanceError("the total energy is zero (to rounding) or not finite, so the relative energy error "
                            "|dE/E0| is undefined; give a bound or unbound system with E0 != 0", value=initial_energy)
    return initial_energy


def validate_system(masses, positions, velocities) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Check and broadcast one system or a batch; returns ``(m[B,N], x[B,N,3], v[B,N,3], batched)``.

    Raises :class:`InstanceError` naming the problem: wrong shapes, fewer than 2 bodies, non-finite
    values, zero or negative masses, coincident bodies.
    """
    x, v, m = (_real_array(name, value) for name, value in
               (("positions", positions), ("velocities", velocities), ("masses", masses)))
    if x.ndim not in (2, 3) or x.shape[-1] != 3:
        raise InstanceError(f"positions must have shape [bodies, 3] or [batch, bodies, 3], got {x.shape}", value=x.shape)
    if v.shape != x.shape:
        raise InstanceError(f"velocities shape {v.shape} != positions shape {x.shape}", value=v.shape)
    batched = x.ndim == 3
    if not batched:
        x, v = x[None], v[None]
    batch, bodies = x.shape[0], x.shape[1]
    if batch < 1:
        raise InstanceError("a batch needs at least one system, got 0", value=x.shape)
    if bodies < 2:
        raise InstanceError(f"need at least 2 bodies, got {bodies}", value=bodies)
    if m.ndim == 1 and m.shape[0] == bodies:
        m = np.broadcast_to(m, (batch, bodies))
    elif m.ndim == 2 and batched and m.shape == (batch, bodies):
        pass
    else:
        raise InstanceError(f"masses shape {m.shape} does not match {bodies} bodies (batch {batch})", value=m.shape)
    for name, arr in (("masses", m), ("positions", x), ("velocities", v)):
        if not np.all(np.isfinite(arr)):
            raise InstanceError(f"{name} contain NaN or inf", value=arr)
    if np.any(m <= 0):
        raise InstanceError(f"masses must be positive, got {m[m <= 0][:5].tolist()}", value=m)
    diff = x[:, :, None, :] - x[:, None, :, :]
    dist = np.sqrt(np.einsum("bijk,bijk->bij", diff, diff))
    iu = np.triu_indices(bodies, 1)
    pair = dist[:, iu[0], iu[1]]
    if np.any(pair == 0.0):
        raise InstanceError("two bodies occupy the same position (or are too close to resolve in float64)", value=x)
    if not np.all(np.isfinite(pair)):
        raise InstanceError("positions are too large: pair distances overflow float64", value=x)
    return np.ascontiguousarray(m), np.ascontiguousarray(x), np.ascontiguousarray(v), batched


def _energies(masses, positions, velocities, G: float) -> tuple[np.ndarray, np.ndarray]:
    """``(kinetic, potential)`` energy per system (``[..., bodies]``/``[..., bodies, 3]`` inputs)."""
    m = np.asarray(masses, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64)
    m = np.broadcast_to(m, x.shape[:-1])
    kinetic = 0.5 * np.sum(m * np.sum(v * v, axis=-1), axis=-1)
    n = x.shape[-2]
    iu, ju = np.triu_indices(n, 1)
    r = np.linalg.norm(x[..., iu, :] - x[..., ju, :], axis=-1)
    return kinetic, -G * np.sum(m[..., iu] * m[..., ju] / r, axis=-1)


def total_energy(masses, positions, velocities, G: float = G_AU_MSUN_YR) -> np.ndarray:
    """Kinetic plus potential energy, per system (``[..., bodies]``/``[..., bodies, 3]`` inputs)."""
    kinetic, potential = _energies(masses, positions, velocities, G)
    return kinetic + potential


def timestep_criterion(masses, positions, velocities, G: float = G_AU_MSUN_YR) -> float:
    """``min`` over pairs of the collision and free-fall times (``dt = η ·`` this)."""
    m, x, v, _ = validate_system(masses, positions, velocities)
    return float(_criterion(m[0], x[0], v[0], _scalar_setting("G", G)))


def crossing_time(masses, positions, velocities, G: float = G_AU_MSUN_YR) -> np.ndarray | float:
    """``G M^{5/2} / (2|E|)^{3/2}``, the system's crossing time (Hénon units: 2√2): the scale-free reference
    of the criterion exponent. Raises :class:`InstanceError` for a system with zero total energy."""
    m, x, v, batched = validate_system(masses, positions, velocities)
    out = _crossing_time(G, m.sum(axis=1), np.atleast_1d(total_energy(m, x, v, G)))
    return out if batched else float(out[0])


def _crossing_time(G: float, total_mass: np.ndarray, energy: np.ndarray) -> np.ndarray:
    if np.any(energy == 0) or not np.all(np.isfinite(energy)):
        raise InstanceError("the crossing time needs a finite, non-zero total energy", value=energy)
    return G * total_mass ** 2.5 / (2.0 * np.abs(energy)) ** 1.5


def _criterion_exponent(value, batch: int, m, x, v, G) -> tuple[np.ndarray, np.ndarray]:
    """Validated per-system β and ``t_ref`` (ones where β = 0, so no energy is needed there)."""
    try:
        beta = np.broadcast_to(np.asarray(value, dtype=np.float64), (batch,)).copy() if np.ndim(value) <= 1 else None
    except (TypeError, ValueError):
        beta = None
    if beta is None:
        raise ConfigError(f"criterion_exponent must be a scalar or one value per system, got {value!r}", value=value)
    if not np.all(np.isfinite(beta)) or np.any(np.abs(beta) > 1.0):
        raise ConfigError(f"criterion_exponent must be finite and within [-1, 1], got {value!r}", value=value)
    t_ref = np.ones(batch)
    if np.any(beta != 0):
        t_ref = np.asarray(crossing_time(m, x, v, G), dtype=np.float64).reshape(batch)
    return beta, t_ref


def _max_steps(value) -> int:
    """``max_steps`` as an int >= 1 (the kernel's loop bound), else :class:`ConfigError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)) or not (
            math.isfinite(value) and value >= 1 and int(value) == value):
        raise ConfigError(f"max_steps must be an integer >= 1, got {value!r}", value=value)
    return int(value)


def _check_positive(name: str, value, batch: int, *, allow_zero: bool = False) -> np.ndarray:
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (batch,)).copy() if np.ndim(value) <= 1 else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (batch,):
        raise ConfigError(f"{name} must be a number or one number per system ({batch}), got {value!r}", value=value)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0 if allow_zero else arr <= 0):
        raise ConfigError(f"{name} must be finite and {'>= 0' if allow_zero else 'positive'}, got {value!r}",
                          value=value)
    return arr


def simulate(
    masses,
    positions,
    velocities,
    t_end,
    eta,
    *,
    G: float = G_AU_MSUN_YR,
    max_steps: int = 10_000_000,
    min_separation: float | np.ndarray | None = None,
    min_timestep: float = 0.0,
    criterion_exponent: float | np.ndarray = 0.0,
) -> SimulationResult:
    """Integrate one system (``[bodies, 3]``) or a batch (``[batch, bodies, 3]``) from t=0 to ``t_end``.

    ``eta`` and ``t_end`` are scalars or one value per system. ``min_separation`` (default ``1e-6`` times
    each system's initial largest pair distance) and ``min_timestep`` define a close encounter; ``max_steps``
    caps the steps per system. ``criterion_exponent`` β (scalar or per system, default 0) bends the step
    criterion to ``dt = η·τ·(τ/t_ref)^β`` with ``t_ref`` = :func:`crossing_time` of the initial state: β > 0
    spends relatively more steps where τ is short (close encounters), and it stays a smooth function of the
    state (``benchmarks/timestep.md``). Inputs are not modified. Bad inputs raise :class:`InstanceError` (the
    system, including one whose total energy is zero to rounding: the relative energy error is undefined there)
    or :class:`ConfigError` (the settings); a run that cannot go on ends with a status, never NaN.
    """
    m, x, v, batched = validate_system(masses, positions, velocities)
    batch = x.shape[0]
    t_end_arr = _check_positive("t_end", t_end, batch)
    eta_arr = _check_positive("eta", eta, batch)
    G = _scalar_setting("G", G)
    max_steps = _max_steps(max_steps)
    min_timestep = _scalar_setting("min_timestep", min_timestep, strict=False)
    if min_separation is None:
        diff = x[:, :, None, :] - x[:, None, :, :]
        size = np.sqrt(np.einsum("bijk,bijk->bij", diff, diff)).reshape(batch, -1).max(axis=1)
        min_sep = 1e-6 * size
    else:
        min_sep = _check_positive("min_separation", min_separation, batch, allow_zero=True)
    e0 = _initial_energy(m, x, v, G)
    beta_arr, t_ref = _criterion_exponent(criterion_exponent, batch, m, x, v, G)
    x_out, v_out = x.copy(), v.copy()
    status = np.zeros(batch, dtype=np.int64)
    steps = np.zeros(batch, dtype=np.int64)
    times = np.zeros(batch, dtype=np.float64)
    _simulate_batch(m, x_out, v_out, t_end_arr, eta_arr, float(G), int(max_steps), min_sep**2, float(min_timestep),
                    beta_arr, t_ref, status, steps, times)
    e1 = total_energy(m, x_out, v_out, G)
    energy_error = (e1 - e0) / np.abs(e0)
    names = np.array([STATUS_NAMES[s] for s in status])
    force_evaluations = steps + 1
    if batched:
        return SimulationResult(x_out, v_out, times, steps, force_evaluations, energy_error, names)
    return SimulationResult(x_out[0], v_out[0], float(times[0]), int(steps[0]), int(force_evaluations[0]),
                            float(energy_error[0]), str(names[0]))


class HermiteState:
    """A single system advanced in chunks (what the env drives): keeps ``acc``/``jerk`` between chunks so a
    chunk costs exactly its steps in force evaluations. A system with zero total energy (to rounding) raises
    :class:`InstanceError`, as in :func:`simulate`."""

    def __init__(self, masses, positions, velocities, *, G: float = G_AU_MSUN_YR,
                 min_separation: float | None = None, min_timestep: float = 0.0) -> None:
        m, x, v, batched = validate_system(masses, positions, velocities)
        if batched:
            raise InstanceError("HermiteState takes one system [bodies, 3]", value=x.shape)
        self.masses, self.positions, self.velocities = m[0].copy(), x[0].copy(), v[0].copy()
        self.G = _scalar_setting("G", G)
        initial_energy = float(_initial_energy(m, x, v, self.G)[0])
        self.acc, self.jerk = np.empty_like(self.positions), np.empty_like(self.positions)
        zeros = np.zeros_like(self.positions)
        _force(self.masses, self.positions, zeros, self.velocities, zeros, self.G, self.acc, self.jerk)
        # Kahan compensation of the corrector updates, kept across chunks (see ``_advance``).
        self._x_comp, self._v_comp = np.zeros_like(self.positions), np.zeros_like(self.positions)
        self.force_evaluations = 1
        self.steps = 0
        self.time = 0.0
        self.initial_energy = initial_energy
        size = float(np.max(np.linalg.norm(self.positions[:, None] - self.positions[None], axis=-1)))
        self.min_separation = (1e-6 * size if min_separation is None
                               else _scalar_setting("min_separation", min_separation, strict=False))
        self.min_timestep = _scalar_setting("min_timestep", min_timestep, strict=False)
        self.status = "ok"

    def advance(self, duration: float, eta: float, max_steps: int = 10_000_000, *,
                criterion_exponent: float = 0.0) -> tuple[str, int]:
        """Integrate ``duration`` more time units with parameter ``eta`` (and criterion exponent β, see
        :func:`simulate`; ``t_ref`` is the crossing time of the initial state, from its energy); returns
        ``(status, steps)``. ``duration`` and ``eta`` must be finite and positive (:class:`ConfigError`): a NaN
        would otherwise read as a close encounter and an infinite duration as an instant success."""
        duration, eta = _scalar_setting("duration", duration), _scalar_setting("eta", eta)
        max_steps = _max_steps(max_steps)
        beta = float(criterion_exponent)
        if not (math.isfinite(beta) and abs(beta) <= 1.0):
            raise ConfigError(f"criterion_exponent must be finite and within [-1, 1], got {criterion_exponent!r}",
                              value=criterion_exponent)
        t_ref = 1.0 if beta == 0.0 else float(_crossing_time(self.G, self.masses.sum(), np.array([self.initial_energy]))[0])
        status, steps, t = _advance(self.masses, self.positions, self.velocities, self.acc, self.jerk,
                                    self._x_comp, self._v_comp, 0.0,
                                    duration, eta, self.G, max_steps, self.min_separation**2,
                                    self.min_timestep, beta, t_ref)
        self.steps += steps
        self.force_evaluations += steps
        self.time += t
        self.status = STATUS_NAMES[status]
        return self.status, steps

    @property
    def energy(self) -> float:
        return float(total_energy(self.masses, self.positions, self.velocities, self.G))

    @property
    def energy_error(self) -> float:
        """Relative energy error ``(E - E0) / |E0|``."""
        return (self.energy - self.initial_energy) / abs(self.initial_energy)
