"""Run an HPO study: trials in parallel worker processes against an Optuna storage, resumable after a kill.

Storage URLs: ``sqlite:///DIR/study.db`` (default: a file, nothing to start), ``journal:PATH`` (Optuna's
journal file, safe for many local processes), or ``postgresql://user:pw@host/db`` so that workers on several
machines join one study (``tunegym tune ... --storage URL --study NAME`` on each). A study stops when it has
``n_trials`` finished (complete or pruned) trials, however many processes feed it. ``resume=True`` continues a
study: finished trials are kept, and trials a killed run left ``RUNNING`` are marked failed and queued again
with the same parameters, so nothing is lost and nothing finished is repeated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tunegym.envs.core.errors import ConfigError, TunegymError
from tunegym.tuning.methods import Method
from tunegym.tuning.objective import Objective
from tunegym.tuning.spaces import suggest

__all__ = ["open_storage", "run_study", "finished_trials", "trial_records"]


def open_storage(url: str) -> Any:
    """An Optuna storage for a URL (see the module docstring)."""
    import optuna

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
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.get_trials(deepcopy=False) if t.state in states]


def _requeue_stale(study: Any) -> int:
    import optuna

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number}, skip_if_exists=False)
    return len(stale)


def _load_study(storage_url: str, study_name: str, method: Method, space: Mapping[str, Any], seed: int,
                objective: Objective, create: bool) -> Any:
    import optuna

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
    import optuna

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _load_study(storage_url, study_name, method, space, seed, objective, create=False)

    def trial_function(trial: Any) -> float:
        return objective(trial, suggest(trial, space), run_seed)

    stop = optuna.study.MaxTrialsCallback(n_trials, states=(optuna.trial.TrialState.COMPLETE,
                                                            optuna.trial.TrialState.PRUNED))
    while len(finished_trials(study)) < n_trials:
        study.optimize(trial_function, n_trials=1, catch=(TunegymError,), callbacks=[stop])


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
) -> Any:
    """Create ``study_name`` (or continue it: ``resume`` after a kill, ``join`` as one more live worker) and
    run it to ``n_trials`` finished trials.

    ``resume`` re-queues trials left ``RUNNING``; use it only when no other worker is live on the study.
    ``join`` leaves other workers' running trials alone (many machines, one study).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method.population:
        raise ConfigError(f"{method.name} is a population method: run it with tunegym.tuning.run_pbt", value=method.name)
    if n_trials < 1 or workers < 1:
        raise ConfigError("--trials and --workers must be positive", value=(n_trials, workers))
    existing = optuna.study.get_all_study_names(open_storage(storage))
    if study_name in existing and not (resume or join):
        raise ConfigError(f"study {study_name!r} already exists in {storage}; pass --resume to continue it",
                          value=study_name)
    study = _load_study(storage, study_name, method, space, seed, objective, create=True)
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
            return objective(trial, suggest(trial, space), seed)

        stop = optuna.study.MaxTrialsCallback(n_trials, states=(optuna.trial.TrialState.COMPLETE,
                                                                optuna.trial.TrialState.PRUNED))
        while len(finished_trials(study)) < n_trials:
            study.optimize(trial_function, n_trials=1, catch=(TunegymError,), callbacks=[stop, tick])
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
