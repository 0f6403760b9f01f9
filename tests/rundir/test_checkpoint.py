"""Checkpoints: exact resume after SIGKILL, graceful SIGTERM/SIGINT, damaged input, bad dirs."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from tests.helpers import subproc
from esjax.rundir import checkpoint as ckpt_lib
from esjax.rundir import files as run_io
from esjax.envs import spaces
from esjax.problems.interface import action_view, obs_view
from esjax.cli import main
from esjax.policies import make_policy
from esjax.training.train import to_host

from tests.helpers import bb_run

from tests.helpers.subproc import ROOT
SCRIPT = os.path.join(ROOT, "tests", "helpers", "bb_run.py")
TINY_BRAX = ["--population-size", "8", "--episode-length", "20", "--eval-every", "2",
             "--eval-episodes", "2", "--hidden-sizes", "8,8", "--quiet"]
# Metrics that depend on timing, not on the computation.
TIMING = ("wall_s", "steps_per_s")


def _env():
  return dict(os.environ, PYTHONPATH=ROOT)


def start_bb(out, mode, gens, every, sleep):
  return subprocess.Popen([sys.executable, SCRIPT, str(out), mode, str(gens), str(every),
                           str(sleep)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=_env())


def wait_for(predicate, proc, timeout=120):
  end = time.time() + timeout
  while time.time() < end:
    if predicate():
      return
    assert proc.poll() is None, f"process ended early: {proc.communicate()}"
    time.sleep(0.05)
  raise AssertionError("timed out")


def bb_train(out=None, gens=30, every=5, resume=False, num_params=bb_run.NUM_PARAMS):
  return esjax.train(bb_run.config(gens, every), out_dir=None if out is None else str(out),
                     problem=esjax.black_box(bb_run.fitness),
                     initial_params=jnp.zeros(num_params), progress=False, resume=resume)


def restore(out, num_params=bb_run.NUM_PARAMS):
  """restore_latest into a black-box run's state, without compiling a step."""
  s = esjax.setup(bb_run.config(), esjax.black_box(bb_run.fitness), jnp.zeros(num_params))
  fp = ckpt_lib.fingerprint(s.config, "custom", 0, 0)
  return ckpt_lib.restore_latest(str(out), to_host(s.state), fp)


def untimed(records):
  return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


@pytest.fixture(scope="module")
def reference():
  """The uninterrupted 30-generation black-box run the interrupted ones must reproduce."""
  return bb_train()


@pytest.mark.slow
def test_sigkill_between_checkpoints_then_resume_is_exact(tmp_path, reference):
  out = tmp_path / "run"
  proc = start_bb(out, "fresh", 30, 5, 0.3)
  wait_for(lambda: os.path.isdir(out / "checkpoints" / "5"), proc)
  proc.kill()  # SIGKILL: no handler, no final checkpoint
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  lines = run_io.read_metrics(str(out))
  assert 5 <= len(lines) < 30, "the kill must land between checkpoints, before the end"
  assert not os.path.exists(out / "params.msgpack")

  proc = start_bb(out, "resume", 30, 5, 0)
  stdout, stderr = proc.communicate(timeout=300)
  assert proc.returncode == 0, stderr
  assert "generations=30" in stdout
  final = np.load(out / "final_params.npy")
  np.testing.assert_array_equal(final, reference.flat_params)  # bitwise
  metrics = run_io.read_metrics(str(out))
  assert [m["generation"] for m in metrics] == list(range(1, 31))
  assert untimed(metrics) == untimed(reference.metrics)
  assert sorted(os.listdir(out / "checkpoints")) == ["20", "25", "30"]  # keep_checkpoints=3


def test_sigterm_saves_a_checkpoint_and_exits_zero(tmp_path, reference):
  out = tmp_path / "run"
  proc = start_bb(out, "fresh", 1000, 0, 0.2)  # checkpoint_every=0: only at the end
  wait_for(lambda: os.path.exists(out / "metrics.jsonl")
           and len(run_io.read_metrics(str(out))) >= 4, proc)
  proc.send_signal(signal.SIGTERM)
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 0, stderr
  assert "interrupted=SIGTERM" in stdout
  assert "SIGTERM: stopping after the current generation" in stderr
  metrics = run_io.read_metrics(str(out))
  stopped = len(metrics)
  assert stopped < 30
  assert os.listdir(out / "checkpoints") == [str(stopped)]
  # The generations it did run are the reference run's (same seed, any budget).
  assert untimed(metrics) == untimed(reference.metrics[:stopped])
  restored = restore(out)
  assert restored.generation == stopped and int(restored.state.generation) == stopped
  assert untimed(restored.records) == untimed(metrics)


# ---- damaged or foreign checkpoints (black box, in process) ----

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  """A finished 10-generation run with checkpoints 5 and 10, and its final params."""
  out = tmp_path_factory.mktemp("bb") / "run"
  result = bb_train(out, gens=10, every=5)
  assert sorted(os.listdir(out / "checkpoints")) == ["10", "5"]
  return out, result


def copy_run(finished_run, tmp_path):
  out = tmp_path / "run"
  shutil.copytree(finished_run[0], out)
  return out


def data_files(step_dir):
  return [os.path.join(d, f) for d, _, fs in os.walk(step_dir / "state") for f in fs
          if os.sep + "d" + os.sep in os.path.join(d, f)]


def truncate(path):
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(size // 2)


def scribble(path):
  data = bytearray(open(path, "rb").read())
  for i in range(len(data) // 2, len(data)):
    data[i] ^= 0x5A
  open(path, "wb").write(bytes(data))


def test_truncated_newest_checkpoint_falls_back_and_resumes_exactly(finished_run, tmp_path,
                                                                     capsys):
  out = copy_run(finished_run, tmp_path)
  files = data_files(out / "checkpoints" / "10")
  assert files
  for f in files:
    truncate(f)
  result = bb_train(out, gens=10, every=5, resume=True)
  msg = capsys.readouterr().err  # warnings go to stderr
  print(msg)
  assert "damaged checkpoint(s) (generation 10: state/" in msg and "(truncated?)" in msg
  assert "resuming from generation 5" in msg
  assert os.path.isdir(out / "damaged-checkpoints" / "10")
  # Generations 6..10 were recomputed from checkpoint 5: the same params as the first time.
  np.testing.assert_array_equal(result.flat_params, finished_run[1].flat_params)
  assert [m["generation"] for m in run_io.read_metrics(str(out))] == list(range(1, 11))


def test_corrupted_newest_checkpoint_falls_back(finished_run, tmp_path, capsys):
  out = copy_run(finished_run, tmp_path)
  for f in data_files(out / "checkpoints" / "10"):
    scribble(f)  # same size, other bytes
  restored = restore(out)
  msg = capsys.readouterr().err  # warnings go to stderr
  print(msg)
  assert "is corrupted (checksum mismatch)" in msg and "resuming from generation 5" in msg
  assert restored.generation == 5 and len(restored.records) == 5


def test_damaged_metadata_falls_back(finished_run, tmp_path, capsys):
  out = copy_run(finished_run, tmp_path)
  truncate(out / "checkpoints" / "10" / "meta" / "metadata")
  restored = restore(out)
  msg = capsys.readouterr().err  # warnings go to stderr
  print(msg)
  assert "generation 10: meta/metadata has" in msg and "resuming from generation 5" in msg
  assert restored.generation == 5


def test_kill_during_save_leaves_usable_checkpoints(finished_run, tmp_path, capsys):
  out = copy_run(finished_run, tmp_path)
  # Killed between orbax's commit and the manifest: orbax's commit says complete, so used.
  os.remove(out / "checkpoints" / "10" / ckpt_lib.MANIFEST)
  # Killed inside orbax's own save: a temporary directory, never taken as a checkpoint.
  os.makedirs(out / "checkpoints" / "15.orbax-checkpoint-tmp-1234" / "state")
  # ...and a metrics line cut off mid-write after the checkpoint.
  with open(out / "metrics.jsonl", "a") as f:
    f.write('{"generation": 11, "env_st')
  restored = restore(out)
  assert capsys.readouterr().err == ""  # no warning
  assert restored.generation == 10
  assert [r["generation"] for r in restored.records] == list(range(1, 11))
  np.testing.assert_array_equal(restored.state.es.mean, finished_run[1].flat_params)


def test_every_checkpoint_damaged_is_an_error(finished_run, tmp_path):
  out = copy_run(finished_run, tmp_path)
  for step in ("5", "10"):
    for f in data_files(out / "checkpoints" / step):
      truncate(f)
  with pytest.raises(esjax.ConfigError) as e:
    bb_train(out, gens=10, every=5, resume=True)
  print(e.value)
  assert "every checkpoint in" in str(e.value) and "cannot resume" in str(e.value)
  assert "generation 10:" in str(e.value) and "generation 5:" in str(e.value)


def test_checkpoint_of_another_network_shape_is_an_error(finished_run, tmp_path):
  out = copy_run(finished_run, tmp_path)
  with pytest.raises(esjax.ConfigError) as e:
    bb_train(out, gens=10, every=5, resume=True, num_params=12)
  print(e.value)
  assert "es.mean as float32(10,)" in str(e.value) and "float32(12,)" in str(e.value)
  assert "another network shape" in str(e.value)


def test_fresh_run_into_a_dir_with_checkpoints_is_refused(finished_run, tmp_path):
  out = copy_run(finished_run, tmp_path)
  with pytest.raises(esjax.ConfigError, match="already holds another run.s files"):
    bb_train(out, gens=10, every=5)


# ---- --resume of things that are not runs (CLI in process) ----

def test_resume_missing_dir(tmp_path, capsys):
  assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
  err = capsys.readouterr().err
  print(err)
  assert err.count("\n") == 1 and "no such directory" in err and "nope" in err


def test_resume_dir_without_config(tmp_path, capsys):
  (tmp_path / "stuff.txt").write_text("x")
  assert main(["train", "--resume", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  print(err)
  assert err.count("\n") == 1 and "is not an esjax run (no config.json)" in err


@pytest.mark.parametrize("text,named", [
    ('{"env": "hopper", ', "is not a valid esjax config"),
    ('[1, 2]', "a config is a JSON object of sections, not a list"),
    ('{"problem": 3, "policy": {}}', "config sections ['problem'] are not JSON objects"),
    ('{"problem": 3}', "config sections ['problem'] are not JSON objects")])
def test_resume_damaged_config(text, named, tmp_path, capsys):
  (tmp_path / "config.json").write_text(text)
  assert main(["train", "--resume", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  print(err)
  assert err.count("\n") == 1 and named in err


def test_resume_run_without_checkpoints(tmp_path, capsys):
  run_io.write_config(str(tmp_path), esjax.TrainConfig.of(population_size=8, hidden_sizes=(8, 8)))
  assert main(["train", "--resume", str(tmp_path), "--quiet"]) == 2
  err = capsys.readouterr().err
  print(err)
  assert err.count("\n") == 1 and "holds no checkpoint" in err
  assert not os.path.exists(tmp_path / "metrics.jsonl")


def test_resume_refuses_changing_the_search(tmp_path, capsys):
  run_io.write_config(str(tmp_path), esjax.TrainConfig())
  assert main(["train", "--resume", str(tmp_path), "--sigma", "0.1"]) == 2
  err = capsys.readouterr().err
  print(err)
  assert err.count("\n") == 1 and "--sigma cannot be given with --resume" in err


def test_python_resume_refuses_another_search_and_keeps_the_run(tmp_path):
  # train(resume=True) takes its config from the caller: one that changes the search is
  # refused in one line before any file is rewritten; the budget may change.
  out = tmp_path / "run"
  bb_train(out, gens=4, every=2)
  before = (out / "config.json").read_text()
  for bad, value in (("sigma", 0.9), ("population_size", 32), ("seed", 7)):
    cfg = bb_run.config(8, 2).replace(**{bad: value})
    with pytest.raises(esjax.ConfigError) as e:
      esjax.train(cfg, out_dir=str(out), problem=esjax.black_box(bb_run.fitness),
                  initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False, resume=True)
    print(e.value)
    assert f"resume: {bad}={value!r}" in str(e.value) and "\n" not in str(e.value)
    assert (out / "config.json").read_text() == before
  assert len(bb_train(out, gens=8, every=2, resume=True).metrics) == 8


# ---- esjax.load on damaged params.msgpack ----

@pytest.fixture
def saved_params(tmp_path):
  config = esjax.TrainConfig.of(hidden_sizes=(8, 8))
  _, flat = make_policy("mlp", 11, 3, (8, 8), "tanh", None)
  run_io.write_config(str(tmp_path), config)
  from esjax.problems import normalizer
  run_io.save_params(str(tmp_path), flat, normalizer.init(11), obs_view(spaces.Box((11,))),
                     action_view(spaces.Box((3,))))
  return tmp_path


def test_load_truncated_params(saved_params):
  truncate(saved_params / "params.msgpack")
  with pytest.raises(esjax.ConfigError, match="is damaged or not an esjax params file") as e:
    esjax.load(str(saved_params))
  print(e.value)


def test_load_of_an_unfinished_run_says_how_to_finish_it(saved_params):
  (saved_params / "params.msgpack").unlink()  # a run stopped by SIGTERM has only checkpoints
  with pytest.raises(esjax.ConfigError, match="the run has not finished .no final params.: "
                     f"finish it with `esjax train --resume {saved_params}` first"):
    esjax.load(str(saved_params))


def test_resume_without_a_directory_is_a_config_error():
  with pytest.raises(esjax.ConfigError, match="resume=True needs the out_dir"):
    esjax.train(esjax.TrainConfig.of(generations=1), resume=True, progress=False)


def test_load_garbage_params(saved_params):
  (saved_params / "params.msgpack").write_bytes(b"\x00not msgpack at all\xff" * 10)
  with pytest.raises(esjax.ConfigError, match="is damaged or not an esjax params file") as e:
    esjax.load(str(saved_params))
  print(e.value)


def test_load_params_of_another_network(saved_params):
  config = json.loads((saved_params / "config.json").read_text())
  config["policy"]["hidden_sizes"] = [16, 16]
  (saved_params / "config.json").write_text(json.dumps(config))
  with pytest.raises(esjax.ConfigError, match="params but the config's network needs") as e:
    esjax.load(str(saved_params))
  print(e.value)


# ---- Brax through the CLI: SIGINT, resume, foreign checkpoints ----

def run_cli(*args, env=None, timeout=300):
  return subprocess.run([sys.executable, "-m", "esjax", *args], capture_output=True, text=True,
                        timeout=timeout, env=env or _env())


@pytest.mark.slow
def test_cli_sigint_then_resume_and_foreign_checkpoints(tmp_path, capsys):
  out = tmp_path / "run"
  # The resumed process compiles the same step: a persistent compilation cache saves that
  # second compile (the test's bulk on CPU).
  env = dict(_env(), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  proc = subprocess.Popen([sys.executable, "-m", "esjax", "train", *TINY_BRAX, "--generations",
                           "100000", "--checkpoint-every", "0", "--out", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  wait_for(lambda: os.path.exists(out / "metrics.jsonl")
           and len(run_io.read_metrics(str(out))) >= 1, proc, timeout=240)
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  print(stdout, stderr)
  assert proc.returncode == 0, stderr
  stopped = len(run_io.read_metrics(str(out)))
  assert f"stopped by SIGINT at generation {stopped}" in stdout
  assert f"resume with: esjax train --resume {out}" in stdout
  assert os.listdir(out / "checkpoints") == [str(stopped)]

  # Foreign checkpoints: the same checkpoint under an edited config.json.
  for section, key, value, expect in [
      ("problem", "env", "walker2d", "env='hopper' but this run has env='walker2d'"),
      ("policy", "hidden_sizes", [16, 16], "hidden_sizes=[8, 8] but this run has "
       "hidden_sizes=[16, 16]")]:
    other = tmp_path / f"other-{key}"
    shutil.copytree(out, other)
    config = json.loads((other / "config.json").read_text())
    config[section][key] = value
    (other / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(other), "--quiet"]) == 2
    err = subproc.without_xla_logs(capsys.readouterr().err)
    print(err)
    assert expect in err and err.count("\n") == 1
    assert not os.path.exists(other / "params.msgpack")

  done = run_cli("train", "--resume", str(out), "--generations", str(stopped + 2), "--quiet",
                 env=env)
  assert done.returncode == 0, done.stderr
  assert f"done: {stopped + 2} generations" in done.stdout
  metrics = run_io.read_metrics(str(out))
  assert [m["generation"] for m in metrics] == list(range(1, stopped + 3))
  assert json.loads((out / "config.json").read_text())["runtime"]["generations"] == stopped + 2
  saved = esjax.load(str(out))
  assert np.all(np.isfinite(saved.flat_params))
