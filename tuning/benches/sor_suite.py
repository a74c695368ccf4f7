"""The SOR suite runner of ``tunegym bench all``: suite ``sor-setting-a`` (Learning to Relax setting A).

Protocol (also in the suite spec, :mod:`tunegym.tuning.suite_specs.sor`), per variance family:

1. **Tune** (tune seeds only, equal budgets). Each learner (``spectral``, ``chebcb``, ``tsallis_inf``) trains
   online with :meth:`Bandit.learn` on the first ``tune`` tune seeds, ``tune_length`` systems each. The
   ``best_fixed`` baseline is the arm of the same 20-arm grid with the lowest mean sweeps on exactly those
   systems (every arm evaluated by :func:`tunegym.tuning.evaluation.evaluate_policy`).
2. **Test**. Every method, frozen (``predict(obs, deterministic=True)``), meets every dev-test (or, with
   ``final=True``, final-test) seed's sequence of ``sequence_length`` systems, through
   :func:`~tunegym.tuning.evaluation.evaluate_policy` (the one rollout loop): the same systems in the same
   order for all methods, so the per-sequence mean sweeps pair up.
3. **Claims**. One instance of a claim is one test sequence (its mean sweeps per system); strata are the
   variance families; claims are Holm-corrected together (:func:`finalize_claims`).

Writes ``sor.md`` (report), ``sor.json`` (config, per-sequence figures, claims) and ``sor_sweeps.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_suite", "METHODS", "LEARNERS", "CLAIMS", "ENV_ID", "tune_family", "test_family"]

ENV_ID = "tunegym/SOR-v0"

#: method -> (description, what it learns from / what it is)
METHODS: dict[str, tuple[str, str]] = {
    "omega=1": ("Gauss–Seidel", "rule"),
    "best_fixed": ("best single arm on the tune systems", "tune sweeps, all 20 arms"),
    "tsallis_inf": ("Tsallis-INF (Learning to Relax)", "tune sweeps, bandit feedback"),
    "chebcb": ("ChebCB (Learning to Relax)", "tune sweeps, bandit feedback"),
    "spectral": ("ours: Young's ω from a learned Jacobi radius", "tune residual histories"),
    "young": ("Young's ω* from the exact ρ_J, nearest arm", "rule (needs ρ_J)"),
    "oracle": ("per-instance best of the 20 arms", "bound (hindsight)"),
}
LEARNERS = ("tsallis_inf", "chebcb", "spectral")
#: (method, baseline) pairs claimed, in report order
CLAIMS: tuple[tuple[str, str], ...] = (
    ("spectral", "best_fixed"),
    ("spectral", "chebcb"),
    ("spectral", "oracle"),
    ("spectral", "young"),
)
METRIC = "sweeps"


class _SeededFirstReset:
    """A view of ``env`` whose first ``reset()`` restarts the instance stream from ``seed``.

    :meth:`Bandit.learn` resets without a seed; through this view it trains on exactly the systems that
    :func:`evaluate_policy` meets on ``seed`` (reset with the seed, then the stream continues across episodes).
    """

    def __init__(self, env: Any, seed: int) -> None:
        self.env, self._seed = env, int(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        seed, self._seed = (self._seed if seed is None else seed), None
        return self.env.reset(seed=seed, options=options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


def _env_kwargs(suite: Any) -> dict[str, dict[str, Any]]:
    """Family -> ``tunegym/SOR-v0`` kwargs, refusing a spec the registered env cannot express."""
    from tunegym.envs.core.errors import ConfigError
    from tunegym.envs.sor.instances import ShiftedLaplacianDistribution

    kwargs = {}
    for family, params in suite.families().items():
        own = {k: params[k] for k in ("variance", "grid") if k in params}
        built = ShiftedLaplacianDistribution(**params).params
        default = ShiftedLaplacianDistribution(**own).params
        if built != default:
            raise ConfigError(f"suite {suite.key}: family {family!r} ({params}) is not expressible as {ENV_ID} "
                              f"kwargs (variance, grid)", value=params)
        kwargs[family] = own
    return kwargs


def tune_family(env_kwargs: Mapping[str, Any], tune_seeds: Sequence[int], tune_length: int,
                learners: Sequence[str] = LEARNERS) -> dict[str, Any]:
    """Tune phase of one family: per-arm mean sweeps on the tune systems, the best arm, the trained learners."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.baselines import FixedOmega
    from tunegym.agents.registry import make_agent
    from tunegym.tuning.evaluation import evaluate_policy

    arms = np.asarray(gym.make(ENV_ID, **env_kwargs).unwrapped.knob.arms, dtype=float)
    arm_costs = np.array([
        evaluate_policy(ENV_ID, lambda env, w=float(w): FixedOmega(env, w), tune_seeds, env_kwargs=env_kwargs,
                        steps=tune_length).cost
        for w in arms
    ])
    agents = {}
    for name in learners:
        env = gym.make(ENV_ID, **env_kwargs)
        agent = make_agent(name, env, {}, seed=int(tune_seeds[0]), device="cpu")
        for seed in tune_seeds:
            agent.learn(_SeededFirstReset(env, seed), total_timesteps=tune_length)
        env.close()
        agents[name] = agent
    best = int(np.argmin(arm_costs))
    return {"arms": arms.tolist(), "arm_costs": arm_costs.tolist(), "best_arm": best,
            "best_omega": float(arms[best]), "agents": agents}


def test_family(env_kwargs: Mapping[str, Any], tuned: Mapping[str, Any], seeds: Sequence[int], length: int,
                methods: Sequence[str]) -> dict[str, list[float]]:
    """Test phase of one family: method -> mean sweeps per system on each seed's sequence (frozen policies)."""
    from tunegym.agents.baselines import FixedOmega, GridOracle, YoungOmega
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.evaluation import evaluate_policy

    makers: dict[str, Any] = {
        "omega=1": lambda env: FixedOmega(env, 1.0),
        "best_fixed": lambda env: FixedOmega(env, tuned["best_omega"]),
        "young": YoungOmega,
        "oracle": GridOracle,
    }
    for name, agent in tuned["agents"].items():
        makers[name] = lambda env, a=agent: a
    unknown = [m for m in methods if m not in makers]
    if unknown:
        raise ConfigError(f"unknown SOR suite method(s) {unknown}; choices: {sorted(makers)}", value=unknown)
    return {m: evaluate_policy(ENV_ID, makers[m], seeds, env_kwargs=env_kwargs, steps=length, method=m).mean_cost
            for m in methods}


def _describe(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% bootstrap CI of the mean of per-sequence figures."""
    from tunegym.tuning.stats import stratified_bootstrap_ci

    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float(values.mean()), float(values.mean()), float(values.mean())
    low, high = stratified_bootstrap_ci(values, statistic=np.mean, reps=1000, seed=seed)
    return float(values.mean()), low, high


def _plot(per_family: Mapping[str, Mapping[str, list[float]]], methods: Sequence[str], path: Path,
          title: str) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the SOR suite's plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(per_family)
    fig, axes = plt.subplots(1, len(families), figsize=(5.5 * len(families), 4.2), squeeze=False)
    for ax, family in zip(axes[0], families):
        stats = [_describe(np.asarray(per_family[family][m])) for m in methods]
        means = np.array([s[0] for s in stats])
        errors = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]])
        colours = ["tab:red" if m == "spectral" else "tab:gray" if m in ("oracle", "young") else "tab:blue"
                   for m in methods]
        ax.bar(np.arange(len(methods)), means, yerr=errors, capsize=4, color=colours)
        ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("sweeps per system (mean over test sequences, 95% CI)")
        ax.set_title(f"{family} variance")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _markdown(suite: Any, payload: Mapping[str, Any], claims: Sequence[Any], header: str, ledger: str | None) -> str:
    from tunegym.tuning.benches.learning_to_relax import PAPER
    from tunegym.tuning.stats import claims_to_markdown

    config = payload["config"]
    methods = config["methods"]
    lines = [f"# SOR suite `{suite.key}` — {config['split']}", "", header, "",
             suite.description, "",
             f"Tune: seeds {config['tune_seeds']} × {config['tune_length']} systems per family (learners train "
             f"online on them; `best_fixed` is the best arm on them). Test: seeds {config['test_seeds']} × "
             f"{config['sequence_length']} systems per family, every method frozen, the same systems for all.", "",
             "## Claims", "",
             "Ratio: IQM over test sequences of (method mean sweeps) / (baseline mean sweeps); CI: bootstrap "
             "within variance families; p: Wilcoxon signed-rank, Holm-adjusted over this report.", "",
             claims_to_markdown(claims),
             "## Sweeps per system by family", "",
             "Mean over test sequences, 95% bootstrap CI. `paper`: Learning to Relax's online figures (T = 5000, "
             "methods learning from the first system), for orientation only: a different protocol.", ""]
    families = list(payload["per_sequence"])
    header_row = "| method | what | " + " | ".join(f"{f} (95% CI) | paper {f}" for f in families) + " |"
    lines += [header_row, "|---|---|" + "---:|---:|" * len(families)]
    for method in methods:
        description, feedback = METHODS.get(method, (method, ""))
        cells = []
        for family in families:
            mean, low, high = _describe(np.asarray(payload["per_sequence"][family][method]))
            paper = PAPER.get(family, {}).get("oracle_fine" if method == "oracle" else method)
            cells.append(f"{mean:.1f} ({low:.1f}–{high:.1f}) | {paper if paper is not None else '–'}")
        lines.append(f"| `{method}` {description} | {feedback} | " + " | ".join(cells) + " |")
    lines += ["", "Best fixed ω chosen on the tune systems: "
              + ", ".join(f"{f} ω = {payload['tune'][f]['best_omega']:.3f}" for f in families), "",
              "![sweeps per method](sor_sweeps.png)", ""]
    if ledger is not None:
        lines += ["## Final-test ledger", "", ledger]
    return "\n".join(lines) + "\n"


def run_suite(suite: Any, scale: str, out_dir: str | Path, *, final: bool = False,
              methods: Sequence[str] | None = None) -> list[Any]:
    """Run ``suite`` (``sor-setting-a``) at ``scale``; write ``sor.md``, ``sor.json`` and ``sor_sweeps.png`` into
    ``out_dir``; return the report's Holm-finalized claims (on ``final_test`` when ``final``, else ``dev_test``)."""
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.all import ledger_markdown, report_header
    from tunegym.tuning.stats import finalize_claims, paired_claim

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    methods = list(methods or suite.methods)
    needed = {name for pair in CLAIMS for name in pair}
    missing = sorted(needed - set(methods))
    if missing:
        raise ConfigError(f"suite {suite.key}: the claims need methods {missing}", value=missing)
    split = "final_test" if final else "dev_test"
    tune_seeds = list(suite.seeds("tune", scale))
    test_seeds = list(suite.seeds(split, scale, final=final))
    tune_length, length = int(suite.size("tune_length", scale)), int(suite.size("sequence_length", scale))
    per_family: dict[str, dict[str, list[float]]] = {}
    tune_summary: dict[str, dict[str, Any]] = {}
    for family, kwargs in _env_kwargs(suite).items():
        learners = [m for m in methods if m in LEARNERS]
        tuned = tune_family(kwargs, tune_seeds, tune_length, learners)
        per_family[family] = test_family(kwargs, tuned, test_seeds, length, methods)
        tune_summary[family] = {k: tuned[k] for k in ("arms", "arm_costs", "best_arm", "best_omega")}

    strata = [f for f in per_family for _ in test_seeds]
    raw = []
    for index, (method, baseline) in enumerate(CLAIMS):
        raw.append(paired_claim(
            [v for f in per_family for v in per_family[f][method]],
            [v for f in per_family for v in per_family[f][baseline]],
            strata=strata, seed=index, method_name=method, baseline_name=baseline, metric=METRIC,
            domain=suite.domain, suite=suite.name, suite_version=suite.version, split=split))
    claims = finalize_claims(raw)
    duration = time.perf_counter() - started
    config = {"suite": suite.key, "scale": scale, "split": split, "tune_seeds": tune_seeds, "test_seeds": test_seeds,
              "tune_length": tune_length, "sequence_length": length, "methods": methods, "env_id": ENV_ID,
              "env_kwargs": _env_kwargs(suite), "families": list(per_family)}
    header = report_header(suite, scale, duration, final=final)
    payload = {"config": config, "provenance": header, "versions": versions(), "tune": tune_summary,
               "per_sequence": per_family, "claims": [c.to_dict() for c in claims], "wall_time_s": duration,
               "spec": suite.to_dict()}
    atomic_write_bytes(out / "sor.json", json.dumps(payload, indent=2).encode())
    title = f"{suite.key} {split}, {scale}: {len(test_seeds)} sequences × {length} systems per family"
    _plot(per_family, methods, out / "sor_sweeps.png", title)
    ledger = ledger_markdown(out.parent) if final else None
    text = _markdown(suite, payload, claims, header["markdown"], ledger)
    atomic_write_bytes(out / "sor.md", text.encode())
    return claims
