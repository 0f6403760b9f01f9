"""Two local processes, two forced CPU devices each, one JAX job (gloo CPU collectives).

Every launch is bounded by a timeout, and a peer's death must make the survivor exit on its
own within seconds, with one clear line, instead of waiting in a collective.
"""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from esjax import cli
from tests.helpers.subproc import ROOT, env_with_devices

WORKER = os.path.join(ROOT, "tests", "helpers", "mp_worker.py")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(out, devices, *job, **env):
  return subprocess.Popen([sys.executable, WORKER, str(out), str(devices), *map(str, job)],
                          cwd=ROOT, env=env_with_devices(devices, **env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout):
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"worker hung past {timeout} s:\n{err[-2000:]}")
  return proc.returncode, out, err


def _kill_all(procs):
  for p in procs:
    if p.poll() is None:
      p.kill()
      p.wait()


def _all_succeed(procs, timeout):
  """Waits for every worker and asserts each exited 0; none is left running."""
  try:
    for p in procs:
      rc, _, err = _finish(p, timeout=timeout)
      assert rc == 0, err[-2000:]
  finally:
    _kill_all(procs)


def test_two_processes_match_each_other_and_one_process_with_four_devices(tmp_path):
  port = _free_port()
  procs = [_launch(tmp_path / f"p{i}.npz", 2, f"localhost:{port}", 2, i) for i in range(2)]
  procs.append(_launch(tmp_path / "single.npz", 4))
  _all_succeed(procs, timeout=240)
  p0, p1, single = (np.load(tmp_path / f) for f in ("p0.npz", "p1.npz", "single.npz"))
  assert (int(p0["process"]), int(p1["process"])) == (0, 1)
  assert int(p0["processes"]) == 2 and int(p0["devices"]) == int(single["devices"]) == 4
  # The replicated update is computed on every device from the same all-gathered returns.
  np.testing.assert_array_equal(p0["params"], p1["params"])
  np.testing.assert_allclose(p0["params"], single["params"], rtol=0, atol=1e-6)
  np.testing.assert_allclose(p0["returns"], single["returns"], rtol=1e-6)
  assert p0["returns"][-1] > p0["returns"][0]  # and it actually trained


@pytest.mark.slow
def test_a_peer_that_starts_past_gloos_30_s_is_waited_for_not_failed(tmp_path):
  # A loaded host can compile one process's step half a minute after the other's. Gloo gives
  # a peer 30 s to join a collective's first run, so every sync before the processes are in
  # step (orbax's checkpoint directory included) must go through the coordination service.
  port = _free_port()
  procs = [_launch(tmp_path / f"p{i}.npz", 2, f"localhost:{port}", 2, i, LAG_S=35,
                   RUN_DIR=tmp_path / "run", GENS=2) for i in range(2)]
  _all_succeed(procs, timeout=300)
  p0, p1 = (np.load(tmp_path / f"p{i}.npz") for i in range(2))
  np.testing.assert_array_equal(p0["params"], p1["params"])
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]


@pytest.mark.parametrize("victim", [1, 0])  # 0 also hosts the coordination service
def test_a_dead_peer_makes_the_survivor_exit_promptly_with_a_clear_message(tmp_path, victim):
  port, survivor = _free_port(), 1 - victim
  # Far more generations than could finish: only the failure handling can end the survivor.
  env = dict(GENS=1_000_000, DIE_AFTER_GEN=2, DIE_PROCESS=victim)
  procs = [_launch(tmp_path / f"p{i}.npz", 2, f"localhost:{port}", 2, i, **env)
           for i in range(2)]
  try:
    rc_v, out_v, _ = _finish(procs[victim], timeout=240)
    died = time.time()
    assert rc_v == -9 and f"process {victim} dies" in out_v
    rc_s, _, err_s = _finish(procs[survivor], timeout=60)
    waited = time.time() - died
  finally:
    _kill_all(procs)
  assert rc_s == 3, err_s[-2000:]
  assert f"process {survivor} of 2: the multi-process job failed" in err_s
  assert "another process has probably died" in err_s
  assert "Traceback" not in err_s
  print(f"survivor exited {waited:.1f} s after its peer died")
  assert waited < 30, f"survivor took {waited:.1f} s to exit"
  assert not (tmp_path / f"p{survivor}.npz").exists()


@pytest.mark.parametrize("flags, message", [
    (["--coordinator", "localhost:1234"], "--num-processes, --process-id missing"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"],
     "coordinator='localhost' is invalid; expected HOST:PORT"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
     "process_id=2 is invalid; expected 0 <= process_id < num_processes=2"),
    (["--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"],
     "num_processes=0 is invalid"),
])
def test_bad_multiprocess_flags_fail_before_joining_anything(tmp_path, capsys, flags, message):
  out = tmp_path / "run"
  assert cli.main(["train", "--out", str(out), "--quiet", *flags]) == 2
  err = capsys.readouterr().err
  assert err.startswith("esjax: error: ") and message in err and len(err.splitlines()) == 1
  assert not out.exists()


def test_cluster_auto_detection_follows_jax(monkeypatch):
  from esjax.core import multihost as distributed
  for var in ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri",
              "PMIX_SERVER_URI2", "PMIX_SERVER_URI21", "PMIX_SERVER_URI3",
              "PMIX_SERVER_URI4", "PMIX_SERVER_URI41", "JOBSET_NAME"):
    monkeypatch.delenv(var, raising=False)
  assert distributed.detected_cluster() is None
  # Nothing detected and no flags: a plain single-process run, nothing joined.
  assert distributed.initialize() is False
  monkeypatch.setenv("SLURM_JOB_ID", "42")
  assert distributed.detected_cluster() is None  # an allocation without an srun step
  for var, value in (("SLURM_STEP_NODELIST", "node[1-2]"), ("SLURM_NTASKS", "2"),
                     ("SLURM_PROCID", "0"), ("SLURM_LOCALID", "0")):
    monkeypatch.setenv(var, value)
  assert distributed.detected_cluster() == "SlurmCluster"
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
  assert distributed.detected_cluster() == "JAX_COORDINATOR_ADDRESS"


@pytest.mark.slow
def test_cli_two_process_brax_run_only_process_0_writes(tmp_path):
  from tests.helpers.subproc import FAST_COMPILE
  port, out = _free_port(), tmp_path / "run"
  flags = ["train", "--env", "hopper", "--episode-length", "20", "--population-size", "8",
           "--hidden-sizes", "8,8", "--generations", "2", "--eval-every", "2", "--quiet",
           "--out", str(out), "--coordinator", f"localhost:{port}", "--num-processes", "2"]
  procs = [subprocess.Popen([sys.executable, "-m", "esjax", *flags, "--process-id", str(i)],
                            cwd=ROOT, env=env_with_devices(2, FAST_COMPILE),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  try:
    results = [_finish(p, timeout=400) for p in procs]
  finally:
    _kill_all(procs)
  for rc, _, err in results:
    assert rc == 0, err[-2000:]
  # Gloo's C++ layer writes its own connection lines to the same stdout, unbuffered, so they
  # can interleave with (and split) Python's lines: look for esjax's own lines only.
  def esjax_lines(out):
    return [ln for ln in out.splitlines() if "done: " in ln or "wrote " in ln]
  said = [esjax_lines(out) for _, out, _ in results]
  assert any("done: 2 generations" in ln for ln in said[0]), results[0][1]
  assert any("wrote " in ln for ln in said[0]), results[0][1]
  assert said[1] == [], results[1][1]  # esjax prints only on process 0
  # esjax.lock stays (unlocked) by design: esjax/rundir/lock.py.
  assert sorted(os.listdir(out)) == ["checkpoints", "config.json", "esjax.lock",
                                     "metrics.jsonl", "params.msgpack", "tb"]
  assert sorted(os.listdir(out / "checkpoints")) == ["2"]  # one final checkpoint, not one each
  import esjax
  saved = esjax.load(str(out))
  assert saved.config.strategy.population_size == 8
