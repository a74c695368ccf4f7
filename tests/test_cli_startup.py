"""``tunegym --help``, ``tunegym list`` and argument errors start fast: no heavy stack is imported for them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "stable_baselines3", "highspy", "optuna", "ray")


def _imported_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of :data:`HEAVY` ended up in ``sys.modules``."""
    script = (f"import sys, json\n{code}\n"
              f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import tunegym.tuning.cli as cli; cli.build_parser()",
    "import tunegym.tuning.cli as cli, contextlib, io\n"
    "with contextlib.redirect_stdout(io.StringIO()): assert cli.main(['list']) == 0",
    "import tunegym.tuning.cli as cli, contextlib, io\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try: cli.main(['--help'])\n"
    "    except SystemExit: pass",
    "import tunegym.tuning.cli as cli, contextlib, io\n"
    "with contextlib.redirect_stderr(io.StringIO()):\n"
    "    try: cli.main(['train', '--no-such-flag'])\n"
    "    except SystemExit: pass",
], ids=["build_parser", "list", "help", "argument-error"])
def test_parser_list_help_and_argument_errors_import_no_heavy_stack(code):
    imported = _imported_after(code)
    assert not any(imported.values()), imported


def test_every_command_and_bench_still_registers_its_flags():
    from tunegym.tuning.cli import COMMANDS, build_parser
    from tunegym.tuning.commands.bench import BENCHES

    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
    for name in BENCHES:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["bench", name, "--help"])
        assert exit_info.value.code == 0
