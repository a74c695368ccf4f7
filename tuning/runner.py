"""Run an HPO study: trials in parallel worker processes against an Optuna storage, resumable after a kill.

Storage URLs: ``sqlite:///DIR/study.db`` (default: a file, nothing to start), ``journal:PATH`` (Optuna's
journal file, safe for many local processes), or ``postgresql://user:pw@host/db`` so that workers on several
machines join one study (``tunegym tune ... --storage URL --study NAME`` on each). A study stops when it has
``n_trials`` finished (complete or pruned) trials, however many processes feed it. ``resume=True`` continues a
study: finished trials are kept, and trials a killed run left ``RUNNING`` are marked failed and queued again
with the same parameters, so nothing is lost and nothing finished is repeated.

Ask/tell methods (DEHB, SMAC3; :attr:`Method.ask_tell`) run in :func:`_run_ask_tell`: the method's optimiser
proposes a config and a fidelity, the proposal becomes an Optuna trial (enqueued with its parameters and
its ask index), the objective scores it, and the optimiser is told the score. A resumed run builds the
optimiser again from the same seed and replays the finished trials' scores in ask order, checking that
it proposes the same configs; interrupted trials are marked failed and evaluated again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ConfigError, SeedLeakError, TunegymError
from tunegym.envs.core.extras import require
from tunegym.tuning.methods import Fidelities, Method
from tunegym.tuning.objective import Objective
from tunegym.tuning.spaces import suggest

__all__ = ["open_storage", "run_study", "finished_trials", "trial_records"]


def open_storage(url: str) -> Any:
    """An Optuna storage for a URL (see the module docstring)."""
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(("sqlite:", "postgresql", "mysql")):
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        url = _postgres_driver(url)
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as exc:  # sqlalchemy/driver errors: name the URL, not a stack
            raise ConfigError(f"cannot open storage {url!r}: {type(exc).__name__}: {exc}", value=url) from exc
    raise ConfigError(f"storage URL must start with sqlite:///, journal:, or postgresql://, got {url!r}", value=url)


def _postgres_driver(url: str) -> str:
    """``postgresql://`` means psycopg2 to SQLAlchemy; the ``hpo`` extra installs psycopg 3, so use that
    driver when psycopg2 is absent (an explicit ``postgresql+DRIVER://`` is left alone)."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def finished_trials(study: Any) -> list[Any]:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.get_trials(deepcopy=False) if t.state in states]


def steps_spent(study: Any) -> int:
    """Training steps the study's finished trials used (the ``steps`` each trial records; pruned ones too)."""
    return sum(int(t.user_attrs.get("steps", 0) or 0) for t in finished_trials(study))


def _budget_left(study: Any, n_trials: int, max_steps: int | None) -> bool:
    """Whether another trial may start: fewer than ``n_trials`` finished and, with a compute budget, fewer than
    ``max_steps`` training steps spent (the trial that crosses it still finishes)."""
    if len(finished_trials(study)) >= n_trials:
        return False
    return max_steps is None or steps_spent(study) < max_steps


#: attempts per requested trial before a study whose trials keep failing stops (the ask/tell loop's rule too)
ATTEMPTS_PER_TRIAL = 3


def _check_attempts(study: Any, attempts: int, n_trials: int, method: str) -> None:
    """:class:`ConfigError` once this run has started ``ATTEMPTS_PER_TRIAL x n_trials`` trials and fewer than
    ``n_trials`` finished: a failed trial does not count as finished, so an objective that fails for every config
    (an env that breaks after a few steps, a space whose every point is invalid) would otherwise be retried
    forever."""
    finished = len(finished_trials(study))
    if attempts >= ATTEMPTS_PER_TRIAL * n_trials and finished < n_trials:
        raise ConfigError(f"{method}: {attempts} trials started in this run but only {finished} finished; the "
                          "objective keeps failing (see trials.json for each trial's error)", value=attempts)


def _requeue_stale(study: Any) -> int:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number}, skip_if_exists=False)
    return len(stale)


def _load_study(storage_url: str, study_name: str, method: Method, space: Mapping[str, Any], seed: int,
                objective: Objective, create: bool) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    storage = open_storage(storage_url)
    sampler = method.sampler(space, seed)
    pruner = method.pruner(objective.budget, objective.rungs)
    if create:
        return optuna.create_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner,
                                   direction="minimize", load_if_exists=True)
    return optuna.load_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner)


def _optimize(storage_url: str, study_name: str, method: Method, space: Mapping[str, Any], seed: int,
              objective: Objective, n_trials: int, run_seed: int) -> None:
    """Worker body: pull trials until the study holds ``n_trials`` finished ones."""
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _load_study(storage_url, study_name, method, space, seed, objective, create=False)

    def trial_function(trial: Any) -> float:
        try:
            return objective(trial, suggest(trial, space), run_seed)
        except SeedLeakError as leak:  # not a failed trial: tuning touched a test seed, so the run stops
            raise _SeedLeak(leak) from None

    stop = optuna.study.MaxTrialsCallback(n_trials, states=(optuna.trial.TrialState.COMPLETE,
                                                            optuna.trial.TrialState.PRUNED))
    attempts = 0
    try:
        while len(finished_trials(study)) < n_trials:
            study.optimize(trial_function, n_trials=1, catch=(TunegymError,), callbacks=[stop])
            attempts += 1
            _check_attempts(study, attempts, n_trials, method.name)
    except _SeedLeak as wrapped:
        raise wrapped.args[0] from None


class _SeedLeak(Exception):
    """Carries a SeedLeakError past Optuna's ``catch=(TunegymError,)``, which would score it as a failed trial."""


def run_study(
    objective: Objective,
    space: Mapping[str, Any],
    method: Method,
    n_trials: int,
    *,
    storage: str,
    study_name: str,
    workers: int = 1,
    seed: int = 0,
    resume: bool = False,
    join: bool = False,
    progress: bool = True,
    max_steps: int | None = None,
) -> Any:
    """Create ``study_name`` (or continue it: ``resume`` after a kill, ``join`` as one more live worker) and
    run it to ``n_trials`` finished trials, or, with ``max_steps``, until its trials have used that many
    training steps (equal *compute* for every method: a multi-fidelity method that stops trials early gets
    more of them; ``n_trials`` is then a cap).

    ``resume`` re-queues trials left ``RUNNING``; use it only when no other worker is live on the study.
    ``join`` leaves other workers' running trials alone (many machines, one study).
    """
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method.population:
        raise ConfigError(f"{method.name} is a population method: run it with tunegym.tuning.run_pbt", value=method.name)
    if n_trials < 1 or workers < 1:
        raise ConfigError("--trials and --workers must be positive", value=(n_trials, workers))
    if max_steps is not None and (max_steps < 1 or workers > 1):
        raise ConfigError("max_steps must be positive and needs workers=1 (the budget is checked between trials)",
                          value=(max_steps, workers))
    if method.ask_tell and workers > 1:
        raise ConfigError(f"{method.name} runs its own sequential ask/tell loop: use --workers 1 (several HPO runs "
                          "in parallel are `bench hpo --workers`)", value=workers)
    existing = optuna.study.get_all_study_names(open_storage(storage))
    if study_name in existing and not (resume or join):
        raise ConfigError(f"study {study_name!r} already exists in {storage}; pass --resume to continue it",
                          value=study_name)
    study = _load_study(storage, study_name, method, space, seed, objective, create=True)
    if method.ask_tell:
        return _run_ask_tell(study, objective, space, method, n_trials, seed=seed, progress=progress,
                             max_steps=max_steps)
    if resume:
        _requeue_stale(study)
    study.set_user_attr("method", method.name)
    done = len(finished_trials(study))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_trials, initial=done, desc=f"{method.name} trials", unit="trial")
    if workers == 1:
        # In-process: the trial sequence is a function of the seed for the deterministic methods.
        def tick(study: Any, trial: Any) -> None:
            if bar is not None:
                bar.n = len(finished_trials(study))
                bar.refresh()

        def trial_function(trial: Any) -> float:
            try:
                return objective(trial, suggest(trial, space), seed)
            except SeedLeakError as leak:
                raise _SeedLeak(leak) from None

        stop = optuna.study.MaxTrialsCallback(n_trials, states=(optuna.trial.TrialState.COMPLETE,
                                                                optuna.trial.TrialState.PRUNED))
        attempts = 0
        try:
            while _budget_left(study, n_trials, max_steps):
                study.optimize(trial_function, n_trials=1, catch=(TunegymError,), callbacks=[stop, tick])
                attempts += 1
                _check_attempts(study, attempts, n_trials, method.name)
        except _SeedLeak as wrapped:
            raise wrapped.args[0] from None
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_optimize, storage, study_name, method, space, seed + 1000 * k, objective,
                                   n_trials, seed) for k in range(workers)]
            while not all(f.done() for f in futures):
                if bar is not None:
                    bar.n = len(finished_trials(study))
                    bar.refresh()
                time.sleep(0.5)
            for future in futures:
                future.result()
    if bar is not None:
        bar.n = len(finished_trials(study))
        bar.close()
    return study


def _run_ask_tell(study: Any, objective: Objective, space: Mapping[str, Any], method: Method, n_trials: int, *,
                  seed: int, progress: bool, max_steps: int | None = None) -> Any:
    """Drive an ask/tell optimiser to ``n_trials`` finished trials of ``study`` (see the module docstring)."""
    require("optuna", "hpo", "tunegym tune (the HPO harness)")

    from optuna.trial import TrialState

    study.set_user_attr("method", method.name)
    trials = study.get_trials(deepcopy=False)
    for trial in trials:  # a killed run's unfinished trials: evaluated again when their ask index comes up
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    stored = {t.user_attrs["ask_index"]: t for t in trials
              if "ask_index" in t.user_attrs and (t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                                                  or (t.state == TrialState.FAIL and "error" in t.user_attrs))}
    # SMAC sizes its initial design from the trial count: a resumed study keeps the count it started with, so
    # that the optimiser proposes what it proposed before (raising --trials on resume extends that sequence).
    planned = int(study.user_attrs.get("ask_tell_trials", n_trials))
    study.set_user_attr("ask_tell_trials", planned)
    optimizer = method.optimizer(space, seed, planned, Fidelities.of(objective.budget, objective.rungs))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_trials, initial=len(finished_trials(study)), desc=f"{method.name} trials", unit="trial")
    scores: list[float] = []
    index = 0
    try:
        while _budget_left(study, n_trials, max_steps):
            proposal = optimizer.ask()
            previous = stored.get(index)
            if previous is not None:
                score = _stored_score(previous, scores)
                if not _same_config(previous.params, proposal.config):
                    # A SMAC study stored by another SMAC version (or before its proposals were made independent
                    # of the hash seed) can propose otherwise: tell it the stored trial as a warm-start
                    # observation instead (DEHB replays exactly, so it never lands here).
                    if not hasattr(optimizer, "tell_stored"):
                        raise ConfigError(f"cannot resume {method.name}: its optimiser proposed {proposal.config} at "
                                          f"ask {index}, where the stored trial {previous.number} has "
                                          f"{previous.params}; the run's seed or search space changed", value=index)
                    optimizer.tell_stored(proposal, previous.params, int(previous.user_attrs.get("fidelity", 0)),
                                          score)
                    scores.append(score)
                    index += 1
                    continue
            else:
                score = _evaluate_proposal(study, objective, space, proposal, index, seed, scores)
                if bar is not None:
                    bar.n = len(finished_trials(study))
                    bar.refresh()
            scores.append(score)
            optimizer.tell(proposal, score)
            index += 1
            if index >= ATTEMPTS_PER_TRIAL * n_trials + len(stored) and len(finished_trials(study)) < n_trials:
                raise ConfigError(f"{method.name}: {index} proposals but only {len(finished_trials(study))} trials "
                                  "finished; the objective keeps failing (see trials.json)", value=index)
    finally:
        optimizer.close()
        if bar is not None:
            bar.n = len(finished_trials(study))
            bar.close()
    return study


def _failure_score(scores: list[float]) -> float:
    """What the optimiser is told for a failed trial: clearly worse than everything scored so far."""
    finite = [s for s in scores if np.isfinite(s)]
    return max(finite) + abs(max(finite)) + 1.0 if finite else 1e9


def _stored_score(trial: Any, scores: list[float]) -> float:
    if trial.state.name == "FAIL":
        return _failure_score(scores)
    if trial.value is not None:
        return float(trial.value)
    return float(trial.intermediate_values[max(trial.intermediate_values)])


def _same_config(stored: Mapping[str, Any], proposed: Mapping[str, Any]) -> bool:
    if set(stored) != set(proposed):
        return False
    return all(stored[k] == proposed[k] or (isinstance(stored[k], float) and isinstance(proposed[k], (int, float))
                                            and np.isclose(stored[k], proposed[k], rtol=1e-9, atol=0.0))
               for k in stored)


def _evaluate_proposal(study: Any, objective: Objective, space: Mapping[str, Any], proposal: Any, index: int,
                       seed: int, scores: list[float]) -> float:
    """One proposal as one Optuna trial: ``COMPLETE`` at the full budget, ``PRUNED`` below it (as a stopped
    Hyperband trial), ``FAIL`` with an ``error`` attribute when the objective raises a :class:`TunegymError`."""
    from optuna.trial import TrialState

    fidelity = int(min(max(proposal.fidelity, 1), objective.budget))
    study.enqueue_trial(proposal.config, user_attrs={"ask_index": index, "fidelity": fidelity}, skip_if_exists=False)
    trial = study.ask()
    if trial.user_attrs.get("ask_index") != index:
        raise ConfigError(f"another process is feeding study {study.study_name!r}; ask/tell methods need it alone",
                          value=study.study_name)
    config = suggest(trial, space)
    try:
        score = objective(trial, config, seed, budget=fidelity, number=index)
    except SeedLeakError:
        study.tell(trial, state=TrialState.FAIL)
        raise  # a test seed reached from tuning is a bug to stop at, never a bad config to score
    except TunegymError as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=TrialState.FAIL)
        return _failure_score(scores)
    if fidelity >= objective.budget:
        study.tell(trial, score)
    else:
        study.tell(trial, state=TrialState.PRUNED)
    return float(score)


def trial_records(study: Any) -> list[dict[str, Any]]:
    """Every trial as JSON-able data (number, state, params, value, steps, intermediate values)."""
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "value": t.value,
            "steps": t.user_attrs.get("steps", 0),
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        }
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    ]
