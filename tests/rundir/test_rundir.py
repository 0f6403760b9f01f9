"""RunDir (the run's directory behind one object) and the Sink protocol that records go to."""
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

import esjax
from esjax.rundir import files, lock as lock_lib
from esjax.rundir.rundir import RunDir
from tests.helpers.subproc import ROOT



def _sphere(params, key):
  del key
  return -jnp.sum((params - 1.0) ** 2)


def _train(**kw):
  config = esjax.TrainConfig.of(population_size=8, generations=5, eval_every=2, eval_episodes=1,
                                normalize_obs=False, learning_rate=0.1)
  return esjax.train(config, problem=esjax.black_box(_sphere), initial_params=jnp.zeros(4),
                     **kw)


def test_an_error_inside_the_run_dir_frees_its_lock_and_removes_what_it_created(tmp_path):
  out = str(tmp_path / "run")
  with pytest.raises(RuntimeError, match="boom"):
    with RunDir(out):
      assert os.listdir(out) == [lock_lib.LOCK_FILE]
      with pytest.raises(lock_lib.RunLocked):
        _other_process_locks(out)
      raise RuntimeError("boom")
  assert not os.path.exists(out)  # created by this run, never written into: gone
  os.makedirs(out)
  with pytest.raises(RuntimeError):
    with RunDir(out):
      raise RuntimeError("boom")
  assert os.path.isdir(out)  # not this run's to remove
  lock_lib.acquire(out).release()  # free


def _other_process_locks(run_dir):
  code = f"from esjax.rundir import lock; lock.acquire({run_dir!r})"
  p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                     env={**os.environ, "PYTHONPATH": ROOT})
  if "RunLocked" in p.stderr:
    raise lock_lib.RunLocked(p.stderr.strip().splitlines()[-1])


def test_an_invalid_config_writes_nothing(tmp_path):
  out = tmp_path / "run"
  config = esjax.TrainConfig.of(population_size=7, generations=2)
  with pytest.raises(esjax.ConfigError, match="population_size=7"):
    esjax.train(config, out_dir=str(out), problem=esjax.black_box(_sphere),
                initial_params=jnp.zeros(4), progress=False)
  assert not out.exists()


def test_a_custom_sink_receives_every_record_and_is_closed(tmp_path):
  class Collect:
    def __init__(self):
      self.records, self.closed = [], 0

    def write(self, record):
      self.records.append(record)

    def close(self):
      self.closed += 1

  sink, called = Collect(), []
  result = _train(out_dir=str(tmp_path / "run"), sinks=[sink, called.append])
  assert sink.records == called == list(result.metrics)
  assert [r["generation"] for r in sink.records] == [1, 2, 3, 4, 5]
  assert sink.closed == 1
  assert files.read_metrics(str(tmp_path / "run")) == sink.records
  assert not (tmp_path / "run" / "tb").exists()  # an explicit list holds every output
  with pytest.raises(TypeError, match="not both"):
    _train(sinks=[sink], progress=False)


def test_train_without_out_dir_imports_no_orbax():
  code = ("import sys, jax.numpy as jnp, esjax\n"
          "esjax.train(esjax.TrainConfig.of(population_size=8, generations=2, eval_every=0),\n"
          "            problem=esjax.black_box(lambda p, k: -jnp.sum(p ** 2)),\n"
          "            initial_params=jnp.zeros(3), progress=False)\n"
          "print('orbax' in sys.modules)")
  p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                     env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)
  assert p.returncode == 0, p.stderr
  assert p.stdout.strip().splitlines()[-1] == "False"
