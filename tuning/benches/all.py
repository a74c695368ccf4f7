"""``tunegym bench all``: every domain's suite in one command, its paired claims gathered in ``summary.json``.

``tunegym bench all --scale smoke|full --out DIR [--domain NAME[,NAME]] [--final] [--resume]``

Each domain has a suite runner (:data:`DOMAIN_RUNNERS`, ``"module:function"``, imported lazily) with the
signature ``run_suite(suite, scale, out_dir, *, final) -> list[Claim]``: it runs the domain's registered suite
(:data:`DOMAIN_SUITES`, from :mod:`tunegym.tuning.suite_specs`), writes its Markdown report, PNG plots and JSON
into ``DIR/<domain>/`` and returns its claims with p-values Holm-adjusted over that report
(:func:`~tunegym.tuning.stats.finalize_claims`: one domain, one report). A runner whose module is not there
yet is reported as "not available" and skipped; a runner that raises is reported as failed (exit 1) and the
other domains still run.

Then ``DIR/summary.json`` (a list of claims: domain, suite, suite_version, split, method, baseline, metric,
lower_is_better, n, ratio, ci_low, ci_high, p_value, verdict, shift, prob_improvement) and ``DIR/summary.md``
(command, commit, scale, durations, each domain's status and claims, the final-test ledger).

- ``--resume``: a domain whose ``DIR/<domain>/claims.json`` was finished at the same scale, split and suite
  version is not re-run (files are written atomically, so a killed run leaves either none or a whole one).
- ``--final``: the final-test split is read (never otherwise); each domain that reads it first appends a line
  to ``DIR/final_test_ledger.jsonl`` (date, commit, suite version, method set), and the reports print it.
- ``--scale smoke``: each claim's ratio is checked against its suite's committed regression bands
  (:func:`~tunegym.tuning.suites.check_bands`); every violation is one line on stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["register", "run", "run_all", "DOMAIN_RUNNERS", "DOMAIN_SUITES", "report_header", "ledger_markdown",
           "run_hpo_runner", "CLAIMS_FILENAME", "SUMMARY_FILENAME"]

#: domain -> its suite runner ``"module:function"`` (``run_suite(suite, scale, out_dir, *, final)``)
DOMAIN_RUNNERS: dict[str, str] = {
    "sor": "tunegym.tuning.benches.sor_suite:run_suite",
    "sor-deploy": "tunegym.tuning.benches.sor_deploy:run_suite",
    "timestep": "tunegym.tuning.benches.timestep_suite:run_suite",
    "lr": "tunegym.tuning.benches.lr_suite:run_suite",
    "mip": "tunegym.tuning.benches.mip_suite:run_suite",
    "krylov": "tunegym.tuning.benches.krylov_suite:run_suite",
    "krylov-gmres": "tunegym.tuning.benches.krylov_suite:run_suite",
    "hpo": "tunegym.tuning.benches.all:run_hpo_runner",
}
#: domain -> the registered suite its runner runs; a domain missing here runs its only registered suite
DOMAIN_SUITES: dict[str, str] = {
    "sor": "sor-setting-a",
    "sor-deploy": "sor-deploy",  # SORTuner on users' sequences of systems (a second SOR suite)
    "krylov": "krylov-sequences",
    "krylov-gmres": "krylov-gmres-sequences",  # non-symmetric systems, GMRES (a second Krylov suite)
}
#: the HPO methods compared at smoke scale (Optuna only: no optional package needed)
HPO_SMOKE_METHODS = ("random", "tpe", "hyperband")
CLAIMS_FILENAME = "claims.json"
SUMMARY_FILENAME = "summary.json"

#: what the running command was and the commit it started at (set by :func:`run_all`; read by :func:`report_header`)
_CONTEXT: dict[str, Any] = {"command": None, "commit": None}


# ---- helpers for the runners ----------------------------------------------------------------------------------

def start_context(command: str | None) -> None:
    """Name the running command in every report it writes, with the commit it starts at (``None``: clear)."""
    from tunegym.tuning.suites import git_commit

    _CONTEXT["command"] = command
    _CONTEXT["commit"] = git_commit() if command is not None else None


def report_header(suite: Any, scale: str, duration_s: float, *, final: bool = False) -> dict[str, Any]:
    """What every report names: the command, the commit, the scale, the duration (``markdown`` one line of it)."""
    from tunegym.tuning.suites import git_commit

    command = _CONTEXT["command"] or f"run_suite({getattr(suite, 'key', suite)!r}, {scale!r}, final={final})"
    commit = _CONTEXT["commit"] or git_commit()
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    suite_key = getattr(suite, "key", str(suite))
    markdown = (f"Command `{command}` · commit `{commit[:12]}` · suite `{suite_key}` · scale `{scale}` · split "
                f"`{'final_test' if final else 'dev_test'}` · {duration_s:.1f} s · {date}")
    return {"command": command, "commit": commit, "suite": suite_key, "scale": scale, "final": bool(final),
            "duration_s": float(duration_s), "date": date, "markdown": markdown}


def ledger_markdown(results_dir: str | Path) -> str:
    """The final-test ledger of ``results_dir`` as a Markdown table (a line saying it is empty if it is)."""
    from tunegym.tuning.suites import Ledger

    ledger = Ledger(results_dir)
    if not ledger.entries():
        return f"No final-test use recorded in `{ledger.path}`.\n"
    return f"Every recorded use of a final-test split (`{ledger.path}`):\n\n{ledger.markdown()}"


def _suite_for(domain: str) -> Any:
    """The suite a domain's runner runs, or None where no suite of that domain is registered."""
    from tunegym.tuning.suites import SUITES

    name = DOMAIN_SUITES.get(domain)
    if name is not None:
        return SUITES.get(name)
    ours = sorted((s for s in SUITES.values() if s.domain == domain), key=lambda s: s.name)
    return ours[0] if len(ours) == 1 else None


def _load_runner(domain: str) -> Callable[..., Any] | None:
    """The runner of ``domain``; None when its module (or function) does not exist yet."""
    module_name, _, attr = DOMAIN_RUNNERS[domain].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):  # the runner module itself is missing
            return None
        raise
    return getattr(module, attr, None)


# ---- the HPO domain: the HPO suite's runs as paired claims "method vs random search" --------------------

def run_hpo_runner(suite: Any, scale: str, out_dir: str | Path, *, final: bool = False) -> list[Any]:
    """Wrap :func:`tunegym.tuning.benches.hpo.run_hpo_suite`: each method's final test score per (task, run)
    against random search's on the same (task, run) (run ``k`` of every method meets the same tune-seed
    rotation), strata = tasks. Writes ``hpo.md``/``hpo.json``/plots (the HPO suite's own) and ``claims.md``."""
    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.hpo import SUITE_METHODS, run_hpo_suite
    from tunegym.tuning.stats import claims_to_markdown, finalize_claims, paired_claim

    if final:
        raise ConfigError("the HPO suite has no final-test split (it scores on its SeedSplit's test seeds); "
                          "run it without --final", value="hpo")
    started = time.perf_counter()
    out = Path(out_dir)
    # Smoke: the Optuna-only methods (always installed, seconds each); full: every method of the HPO suite.
    available = list(HPO_SMOKE_METHODS if scale == "smoke" else SUITE_METHODS)
    if "random" not in available:
        raise ConfigError("the HPO claims need random search as the baseline", value=available)
    payload = run_hpo_suite(scale, out, methods=available)
    scores = payload["scores"]
    tasks = sorted(scores)
    values = [v for t in tasks for m in available for v in scores[t][m]]
    shift = 0.0 if min(values) > 0 else 1.0 - min(values)  # published with each claim
    name, version = (suite.name, suite.version) if suite is not None else ("hpo-suite", 1)
    raw = []
    for index, method in enumerate(m for m in available if m != "random"):
        mine = [v for t in tasks for v in scores[t][method]]
        base = [v for t in tasks for v in scores[t]["random"]]
        strata = [t for t in tasks for _ in scores[t][method]]
        raw.append(paired_claim(mine, base, strata=strata, shift=shift, seed=index, method_name=method,
                                baseline_name="random", metric="test_score", domain="hpo", suite=name,
                                suite_version=version, split="test",
                                lower_is_better=bool(payload.get("lower_is_better", True))))
    claims = finalize_claims(raw)
    header = report_header(suite if suite is not None else f"{name}@v{version}", scale,
                           time.perf_counter() - started, final=False)
    atomic_write_bytes(out / "claims.md", (f"# HPO suite: methods against random search\n\n{header['markdown']}\n\n"
                                           f"One instance = one (task, run); strata = tasks; see hpo.md.\n\n"
                                           f"{claims_to_markdown(claims)}").encode())
    return claims


# ---- the command --------------------------------------------------------------------------------------------

def _reusable(path: Path, scale: str, final: bool, suite: Any) -> list[Any] | None:
    """A finished domain's claims when ``path`` holds them for the same scale, split and suite version."""
    from tunegym.tuning.stats import Claim

    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("scale") != scale or bool(data.get("final")) != final:
            return None
        if suite is not None and data.get("suite") != suite.key:
            return None
        return [Claim.from_dict(c) for c in data["claims"]]
    except (ValueError, KeyError, TypeError):
        return None  # a foreign or torn file: run the domain again


def run_all(scale: str, out: str | Path, *, domains: Sequence[str] | None = None, final: bool = False,
            resume: bool = False, command: str | None = None, stream: Any = None) -> tuple[int, list[Any]]:
    """Run the domains' suites; write ``summary.json``/``summary.md``; return (exit status, claims)."""
    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.stats import claims_to_markdown
    from tunegym.tuning.suites import SCALES, Ledger, check_bands

    err = stream if stream is not None else sys.stderr
    if scale not in SCALES:
        raise ConfigError(f"--scale must be one of {list(SCALES)}, got {scale!r}", value=scale)
    chosen = list(DOMAIN_RUNNERS) if not domains else list(domains)
    unknown = [d for d in chosen if d not in DOMAIN_RUNNERS]
    if unknown:
        raise ConfigError(f"unknown domain(s) {unknown}; choices: {sorted(DOMAIN_RUNNERS)}", value=unknown)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start_context(command or f"tunegym bench all --scale {scale} --out {out}")  # the commit now, not at the end
    started = time.perf_counter()
    status: dict[str, dict[str, Any]] = {}
    claims: list[Any] = []
    violations: list[str] = []
    code = 0
    try:
        for domain in chosen:
            t0 = time.perf_counter()
            suite = _suite_for(domain)
            runner = _load_runner(domain)
            if runner is None:
                status[domain] = {"status": "not available", "why": f"no runner {DOMAIN_RUNNERS[domain]}"}
                print(f"bench all: {domain}: not available (no runner {DOMAIN_RUNNERS[domain]})", file=err)
                continue
            if suite is None and domain != "hpo":
                status[domain] = {"status": "not available", "why": "no registered suite of this domain"}
                print(f"bench all: {domain}: not available (no registered suite)", file=err)
                continue
            domain_dir = out / domain
            claims_path = domain_dir / CLAIMS_FILENAME
            reused = _reusable(claims_path, scale, final, suite) if resume else None
            if reused is not None:
                domain_claims = reused
                status[domain] = {"status": "reused", "seconds": 0.0}
                print(f"bench all: {domain}: reusing {claims_path}", file=err)
            else:
                print(f"bench all: {domain} ({getattr(suite, 'key', 'no suite')}, {scale})...", file=err)
                if final and suite is not None:
                    # Logged before the split is read, so a crashed run still counts as a look.
                    Ledger(out).record(suite, suite.methods, note=_CONTEXT["command"])
                try:
                    domain_claims = list(runner(suite, scale, domain_dir, final=final))
                except Exception as exc:  # one domain's failure must not hide the others' results
                    status[domain] = {"status": "failed", "why": f"{type(exc).__name__}: {exc}",
                                      "seconds": time.perf_counter() - t0}
                    print(f"bench all: {domain}: FAILED: {type(exc).__name__}: {exc}", file=err)
                    traceback.print_exc(file=err)
                    code = 1
                    continue
                domain_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(claims_path, json.dumps({
                    "domain": domain, "suite": getattr(suite, "key", None), "scale": scale, "final": final,
                    "seconds": time.perf_counter() - t0, "claims": [c.to_dict() for c in domain_claims]},
                    indent=2).encode())
                status[domain] = {"status": "ran", "seconds": time.perf_counter() - t0}
            status[domain]["claims"] = len(domain_claims)
            claims.extend(domain_claims)
            if scale == "smoke" and suite is not None and suite.bands:
                found = check_bands(domain_claims, suite)
                violations.extend(f"{domain}: {line}" for line in found)
                status[domain]["band_violations"] = found
    finally:
        duration = time.perf_counter() - started
        atomic_write_bytes(out / SUMMARY_FILENAME, json.dumps([c.to_dict() for c in claims], indent=2).encode())
        lines = ["# tunegym bench all", "",
                 f"Command `{_CONTEXT['command']}` · commit `{_CONTEXT['commit'][:12]}` · scale `{scale}` · split "
                 f"`{'final_test' if final else 'dev_test'}` · {duration:.1f} s in all", "",
                 "| domain | status | time (s) | claims | band violations |", "|---|---|---:|---:|---|"]
        for domain, entry in status.items():
            bands = entry.get("band_violations")
            lines.append(f"| {domain} | {entry['status']}{': ' + entry['why'] if 'why' in entry else ''} "
                         f"| {entry.get('seconds', 0.0):.1f} | {entry.get('claims', 0)} "
                         f"| {'–' if bands is None else (len(bands) or 'none')} |")
        lines += ["", "## Claims (p Holm-adjusted within each domain's report)", "",
                  claims_to_markdown(claims) if claims else "No claims.\n"]
        if final or Ledger(out).entries():
            lines += ["## Final-test ledger", "", ledger_markdown(out)]
        atomic_write_bytes(out / "summary.md", "\n".join(lines).encode())
        start_context(None)
    for line in violations:
        print(f"band violation: {line}", file=err)
    if violations:
        code = 1
    print(f"bench all: {len(claims)} claims from {sum(1 for s in status.values() if s['status'] in ('ran', 'reused'))}"
          f" domain(s) in {duration:.1f} s; wrote {out / SUMMARY_FILENAME} and {out / 'summary.md'}")
    return code, claims


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out, add_resume

    parser = subparsers.add_parser(
        "all", help="every domain's suite: paired claims, reports, summary.json (bands checked at smoke scale)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["smoke", "full"], default="smoke",
                        help="suite sizes (smoke: minutes, regression bands checked; full: the published run)")
    add_out(parser, required=True, help="output directory: DIR/<domain>/..., DIR/summary.json, DIR/summary.md")
    parser.add_argument("--domain", default=None, metavar="NAME",
                        help=f"only these domains (comma list; choices: {', '.join(DOMAIN_RUNNERS)})")
    parser.add_argument("--final", action="store_true",
                        help="read the final-test split (published numbers only; each use is logged in the ledger)")
    add_resume(parser, help="reuse each domain finished earlier in --out at the same scale and split")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    domains = None if not args.domain else [d.strip() for d in args.domain.split(",") if d.strip()]
    parts = ["tunegym bench all", f"--scale {args.scale}", f"--out {args.out}"]
    parts += [f"--domain {args.domain}"] if args.domain else []
    parts += ["--final"] if args.final else []
    parts += ["--resume"] if args.resume else []
    code, _ = run_all(args.scale, args.out, domains=domains, final=args.final, resume=args.resume,
                      command=" ".join(parts))
    return code
