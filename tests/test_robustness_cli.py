"""Robustness of the command-line workflow and the tuning harness: inputs a user brings.

Each test failed before its fix (a raw traceback, a study that retried failing trials for ever, a silently
accepted flag value or a resumed study mixing other seeds); now each is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tunegym.envs.core.errors import ConfigError
from tunegym.tuning.cli import main
from tunegym.tuning.commands.common import evaluation_seeds, seed_split

TINY_TUNE = ["tune", "--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--method", "random", "--trials", "1",
             "--budget", "20", "--eval-steps", "5", "--no-progress"]


def _one_line_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err, err
    assert len(err.splitlines()) == 1 and pattern in err, err
    return err


@pytest.fixture(scope="module")
def bandit_run(tmp_path_factory):
    """One tiny trained bandit run (seconds), shared by the eval/deploy tests."""
    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "20", "--out", str(run),
                 "--no-progress"]) == 0
    return run


@pytest.mark.parametrize("text, pattern", [
    ("tune=0,0,1,test=100", "named more than once"),      # was: accepted, seed 0 counted twice
    ("tune=0-9,test=100,tune=20", "given twice"),          # was: tune=0-9 silently replaced by 20
    ("tune=5-3,test=100", "runs backwards"),               # was: "needs at least one tune seed"
    ("tune=0-9,test=100-1000000000", "more than"),         # was: a billion-element tuple (out of memory)
    ("tune=0-9,test=100-99999999999999999999", r"2\*\*32"),  # was: same
    ("", "names no seed"),                                 # was: the default split, silently
    ("5,tune=3", "before any"),
])
def test_malformed_seed_splits_are_config_errors(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        seed_split(text)


@pytest.mark.parametrize("text, pattern", [("-5", "non-negative"), ("1,-2", "non-negative"),
                                           ("100,100", "more than once"), ("5-3", "backwards")])
def test_evaluation_seeds_refuse_negative_and_repeated_seeds(text, pattern):
    with pytest.raises(ConfigError, match=pattern):  # was: -5 reached gymnasium's seeding as a traceback
        evaluation_seeds(text)


def test_evaluation_seeds_take_every_suite_name():
    assert evaluation_seeds("default") == list(range(100, 110))  # was: "bad seed list 'default'"


def test_eval_with_a_negative_seed_or_no_steps_is_a_one_line_error(capsys, bandit_run):
    _one_line_error(capsys, ["eval", "--run", str(bandit_run), "--seeds", "-5", "--baselines", "none"], "non-negative")
    # was: --max-steps 0 ran one step per seed and wrote the table as if nothing were wrong
    _one_line_error(capsys, ["eval", "--run", str(bandit_run), "--seeds", "100", "--max-steps", "0",
                             "--baselines", "none"], "--max-steps")


def test_out_that_is_a_file_or_a_directory_is_a_one_line_error(tmp_path, capsys, bandit_run):
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "5", "--out",
                             str(afile), "--no-progress"], "is a file")
    _one_line_error(capsys, [*TINY_TUNE, "--out", str(afile)], "is a file")
    _one_line_error(capsys, ["eval", "--run", str(bandit_run), "--seeds", "100", "--out", str(afile)], "is a file")
    _one_line_error(capsys, ["deploy", "--run", str(bandit_run), "--out", str(tmp_path)], "is a directory")


def test_non_utf8_config_file_is_a_one_line_error(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"\xff\xfe\x00bad")  # was: UnicodeDecodeError traceback
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "5", "--config",
                             str(config), "--out", str(tmp_path / "run"), "--no-progress"], "UTF-8")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, pattern", [(["--seed", "-1"], "--seed"),          # was: numpy ValueError
                                            (["--device", "gpu0"], "--device")])   # was: accepted for bandits
def test_train_checks_seed_and_device_before_writing_anything(tmp_path, capsys, extra, pattern):
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "5", "--out",
                             str(tmp_path / "run"), "--no-progress", *extra], pattern)
    assert not (tmp_path / "run").exists()


def test_tune_whose_every_trial_would_fail_stops_at_once_instead_of_retrying_for_ever(tmp_path):
    # was: each trial failed with the same ConfigError and the study asked for another, for ever
    command = [sys.executable, "-m", "tunegym.tuning.cli", *TINY_TUNE, "--env-kwargs", '{"variance": "bogus"}',
               "--out", str(tmp_path / "t")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "variance" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "t" / "run.json").exists()


@pytest.mark.parametrize("extra, pattern", [(["--env-kwargs", "[1]"], "JSON object"),   # was: TypeError
                                            (["--seed", "-1"], "--seed"),               # was: numpy ValueError
                                            (["--seeds-per-trial", "0"], "--seeds-per-trial"),  # was: a hang
                                            (["--device", "bogus"], "--device"),        # was: accepted
                                            (["--seeds", "tune=0-1,test=100", "--seeds-per-trial", "3"],
                                             "more than the 2 tune seeds")])  # was: silently averaged over 2
def test_tune_checks_its_flags_before_the_study(tmp_path, capsys, extra, pattern):
    _one_line_error(capsys, [*TINY_TUNE, "--out", str(tmp_path / "t"), *extra], pattern)


def test_tune_runs_on_a_users_own_module_env_id(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_task_mod.py").write_text(
        "import gymnasium\n"
        "gymnasium.register(id='MySOR-v0', entry_point='tunegym.envs.sor.env:make_setting_a', max_episode_steps=100)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "my_task_mod", raising=False)
    # was: "unknown env 'my_task_mod:MySOR-v0'" although `tunegym train` takes the same id
    assert main([*TINY_TUNE, "--env", "my_task_mod:MySOR-v0", "--seeds", "tune=0,test=100", "--out",
                 str(tmp_path / "t")]) == 0
    best = json.loads((tmp_path / "t" / "best.json").read_text())
    assert best["env_id"] == "my_task_mod:MySOR-v0" and len(best["per_test_seed"]) == 1


def test_tune_resume_with_other_seeds_or_a_second_study_in_one_out_is_refused(tmp_path, capsys):
    out = str(tmp_path / "t")
    assert main([*TINY_TUNE, "--seeds", "tune=0-1,test=100", "--out", out]) == 0
    run_before = (tmp_path / "t" / "run.json").read_text()
    # was: accepted; the stored trials trained on seeds 0-1, which the final evaluation then scored as test seeds
    _one_line_error(capsys, [*TINY_TUNE, "--seeds", "tune=100,test=0-1", "--out", out, "--resume"], "seeds")
    # was: a new study (another method) overwrote run.json, trials.json and best.json of the first
    _one_line_error(capsys, [*TINY_TUNE, "--method", "tpe", "--seeds", "tune=0-1,test=100", "--out", out],
                    "already holds a tune run")
    assert (tmp_path / "t" / "run.json").read_text() == run_before
    assert main([*TINY_TUNE, "--trials", "2", "--seeds", "tune=0-1,test=100", "--out", out, "--resume"]) == 0


def test_a_run_json_with_fields_of_the_wrong_type_is_a_checkpoint_error(tmp_path):
    """A hand-edited run.json (``"steps": "abc"``, ``"env_kwargs": [1]``) gave a TypeError or ValueError in
    whichever command read it, and ``deploy`` labelled a tuner ``(['x'] on 5)``; now the read says which fields."""
    import json

    from tunegym.envs.core.errors import CheckpointError
    from tunegym.tuning.runs import RunDir

    run = RunDir(tmp_path)
    run.root.mkdir(parents=True, exist_ok=True)
    for fields, named in (({"env_id": 5, "agent": ["x"]}, "env_id"), ({"steps": "abc"}, "steps"),
                          ({"env_kwargs": [1]}, "env_kwargs"), ({"run_format": "x"}, "run_format"),
                          ({"seed": True}, "seed")):
        run.run_json.write_text(json.dumps({"env_id": "tunegym/SOR-v0", "agent": "ppo", **fields}))
        with pytest.raises(CheckpointError, match=named):
            run.read()


def test_a_search_space_file_that_is_not_utf8_or_not_yaml_is_a_one_line_config_error(tmp_path):
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.spaces import load_space

    binary = tmp_path / "space.yaml"
    binary.write_bytes(b"\xff\xfe\x00lr: [")
    with pytest.raises(ConfigError, match="not UTF-8"):  # was: UnicodeDecodeError
        load_space(binary)
    broken = tmp_path / "broken.yaml"
    broken.write_text("lr: {type: float, low: 0.1\nhigh: [\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+") as caught:
        load_space(broken)
    assert "\n" not in str(caught.value)


def test_a_resumed_run_drops_the_log_rows_its_killed_run_wrote_after_the_checkpoint(tmp_path):
    """The resumed run logs those steps again: before, progress.csv held them twice."""
    from tunegym.tuning.commands.train import _drop_rows_after

    log = tmp_path / "progress.csv"
    log.write_text("env/cost,time/total_timesteps\n5.0,128\n4.0,256\n3.5,384\n")
    _drop_rows_after(log, 256)
    assert log.read_text() == "env/cost,time/total_timesteps\n5.0,128\n4.0,256\n"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    _drop_rows_after(other, 0)  # a log without the step column is left as it is
    assert other.read_text() == "a,b\n1,2\n"


def test_resuming_a_complete_run_whose_saved_model_is_corrupt_is_a_one_line_error(tmp_path, capsys):
    """Before: ``--resume`` said "already complete; nothing to do" over a corrupt agent.pt."""
    from tunegym.tuning.runs import RunDir

    run = tmp_path / "run"
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "20", "--out", str(run),
                 "--no-progress"]) == 0
    saved = RunDir(run).agent_file
    data = bytearray(saved.read_bytes())
    data[_first_array_byte(bytes(data))] ^= 0xFF  # a byte of the weights (the file's middle may be zip padding)
    saved.write_bytes(bytes(data))
    _one_line_error(capsys, ["train", "--out", str(run), "--resume", "--no-progress"], "corrupt")


def _first_array_byte(data: bytes) -> int:
    """The offset of the first byte of a torch file's first tensor record (``archive/data/0``)."""
    import io
    import struct
    import zipfile

    info = next(i for i in zipfile.ZipFile(io.BytesIO(data)).infolist() if i.filename.endswith("/data/0"))
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


def test_a_reader_that_closes_the_pipe_gets_no_traceback():
    # was: `tunegym list | head -1` printed a BrokenPipeError traceback on stderr
    process = subprocess.Popen([sys.executable, "-m", "tunegym.tuning.cli", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before the first line is written
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 141 and err == "", err


def test_a_trained_bandits_file_records_what_made_it_and_the_versions(bandit_run):
    # was: provenance {} in a single-agent bandit run's agent file (the multi-agent path recorded it)
    from tunegym.agents.tuner_io import load_tuner_file

    _, meta, _ = load_tuner_file(bandit_run / "checkpoints" / "agent.pt")
    assert meta["provenance"] == {"env_id": "tunegym/SOR-v0", "env_kwargs": {}, "steps": 20, "train_seed": 0}
    assert {"python", "tunegym", "numpy", "torch"} <= set(meta["versions"])
