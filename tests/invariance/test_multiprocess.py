"""Two processes, two forced CPU devices each, one JAX job (gloo CPU collectives).

The processes talk over loopback, and (slow) as two hosts would: each in its own network
namespace on its own address, joined by a virtual link (tests/helpers/netns.py). Every launch is bounded by a timeout, and a peer's death must make the survivor exit on its
own within seconds, with one clear line, instead of waiting in a collective.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from esjax import cli
from tests.helpers.mp_launch import (NETWORKS, Loopback, all_succeed, exit_times, fault_time,
                                     finish, free_port, job, kill_all, launch, network)
from tests.helpers.subproc import ROOT, env_with_devices


@pytest.mark.parametrize("where", NETWORKS)
def test_two_processes_match_each_other_and_one_process_with_four_devices(tmp_path, where):
  with network(where) as net:
    procs = job(net, lambda i: tmp_path / f"p{i}.npz")
    procs.append(launch(net, None, tmp_path / "single.npz", 4))
    all_succeed(procs, timeout=240)
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
  procs = job(Loopback(), lambda i: tmp_path / f"p{i}.npz", LAG_S=35, RUN_DIR=tmp_path / "run",
              GENS=2)
  all_succeed(procs, timeout=300)
  p0, p1 = (np.load(tmp_path / f"p{i}.npz") for i in range(2))
  np.testing.assert_array_equal(p0["params"], p1["params"])
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2"]


def _fault(tmp_path, where, victim, link_down=False):
  """A job that host ``victim`` leaves at generation 2 (killed, or its link taken down);
  returns each process's (exit code, stdout, stderr) and the seconds from the fault to its
  exit."""
  # Far more generations than could finish: only the failure handling can end the survivor.
  with network(where) as net:
    procs = job(net, lambda i: tmp_path / f"p{i}.npz", GENS=1_000_000, DIE_AFTER_GEN=2,
                DIE_PROCESS=victim, **({"LINK_DOWN": net.links[victim]} if link_down else {}))
    try:
      times = exit_times(procs, timeout=300)
      results = [finish(p, timeout=1) for p in procs]
    finally:
      kill_all(procs)
  at = fault_time(results[victim][1])
  return results, {i: t - at for i, t in times.items()}


def _assert_one_line_exit_3(result, process, seconds):
  rc, _, err = result
  assert rc == 3, err[-2000:]
  assert f"process {process} of 2: the multi-process job failed" in err
  assert "another process has probably died" in err
  assert "Traceback" not in err
  print(f"process {process} exited 3, {seconds:.1f} s after the fault")
  assert seconds < 30, f"process {process} took {seconds:.1f} s to exit"


@pytest.mark.parametrize("where", NETWORKS)
@pytest.mark.parametrize("victim", [1, 0])  # 0 also hosts the coordination service
def test_a_dead_peer_makes_the_survivor_exit_promptly_with_a_clear_message(tmp_path, where,
                                                                          victim):
  results, waited = _fault(tmp_path, where, victim)
  survivor = 1 - victim
  assert results[victim][0] == -9 and f"process {victim} dies" in results[victim][1]
  _assert_one_line_exit_3(results[survivor], survivor, waited[survivor])
  assert not (tmp_path / f"p{survivor}.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_a_host_whose_link_goes_down_ends_the_job_promptly_on_both_hosts(tmp_path, victim):
  # The cable is cut, not the process: no connection is closed, nothing is sent, and only the
  # heartbeats (and gloo's timeouts) can tell either side that the other is gone.
  results, waited = _fault(tmp_path, "namespaces", victim, link_down=True)
  for i in range(2):
    _assert_one_line_exit_3(results[i], i, waited[i])
  assert not any((tmp_path / f"p{i}.npz").exists() for i in range(2))


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
  port, out = free_port(), tmp_path / "run"
  flags = ["train", "--env", "hopper", "--episode-length", "20", "--population-size", "8",
           "--hidden-sizes", "8,8", "--generations", "2", "--eval-every", "2", "--quiet",
           "--out", str(out), "--coordinator", f"localhost:{port}", "--num-processes", "2"]
  procs = [subprocess.Popen([sys.executable, "-m", "esjax", *flags, "--process-id", str(i)],
                            cwd=ROOT, env=env_with_devices(2, FAST_COMPILE),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  try:
    results = [finish(p, timeout=400) for p in procs]
  finally:
    kill_all(procs)
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



def _cli_job(net, args_of, cache):
  """``esjax train ARGS`` as process i of 2 on ``net``'s host i; returns [(rc, out, err)]."""
  from tests.helpers.subproc import FAST_COMPILE
  coordinator = f"{net.address[0]}:{free_port()}"
  procs = [launch(net, i, None, 2, xla_flags=FAST_COMPILE, JAX_COMPILATION_CACHE_DIR=cache,
                  argv=[sys.executable, "-m", "esjax", "train", *args_of(i), "--quiet",
                        "--coordinator", coordinator, "--num-processes", "2",
                        "--process-id", str(i)]) for i in range(2)]
  try:
    return [finish(p, timeout=400) for p in procs]
  finally:
    kill_all(procs)


@pytest.mark.slow
def test_cli_hosts_without_a_shared_disk_need_only_process_0s_directory(tmp_path):
  # Two machines with local disks: each process is given its own --out. Only process 0 writes
  # (the state is replicated); a resume reads process 0's directory and sends the checkpoint
  # to process 1, whose own directory was never made.
  dirs = [tmp_path / "host0", tmp_path / "host1"]
  flags = ["--env", "inverted_pendulum", "--population-size", "16", "--episode-length", "50",
           "--eval-every", "0"]
  cache = str(tmp_path / "jax-cache")
  with network("namespaces") as net:
    first = _cli_job(net, lambda i: [*flags, "--generations", "3", "--out", str(dirs[i])],
                     cache)
    for rc, _, err in first:
      assert rc == 0, err[-2000:]
    assert not dirs[1].exists()
    assert sorted(os.listdir(dirs[0] / "checkpoints")) == ["3"]
    resumed = _cli_job(net, lambda i: ["--resume", str(dirs[i]), "--generations", "5"], cache)
  for rc, _, err in resumed:
    assert rc == 0, err[-2000:]
  assert not dirs[1].exists()
  assert sorted(os.listdir(dirs[0] / "checkpoints")) == ["3", "5"]
  from esjax.rundir.files import read_metrics
  assert [r["generation"] for r in read_metrics(str(dirs[0]))] == [1, 2, 3, 4, 5]


def _refused(tmp_path, name, **env):
  """Runs a 2-process job expected to be refused; returns each process's error line."""
  procs = job(Loopback(), lambda i: tmp_path / f"{name}{i}.npz", **env)
  try:
    results = [finish(p, timeout=300) for p in procs]
  finally:
    kill_all(procs)
  said = []
  for rc, _, err in results:
    lines = [ln for ln in err.splitlines() if ln.startswith("esjax: error:")]
    assert rc == 2 and len(lines) == 1, err[-2000:]
    said.append(lines[0])
  assert not (tmp_path / f"{name}0.npz").exists()
  return said


@pytest.mark.slow
def test_a_refusal_only_process_0_can_make_ends_every_process_in_one_line(tmp_path):
  # Process 0 alone holds the run directory: it checks a Python resume's config against the
  # run's config.json (train(resume=True) takes its config from the caller), and whether a new
  # run's directory already holds a run's files. Process 1, with no directory of its own, must
  # fail alike instead of waiting for process 0 in the first collective, and the processes
  # leave together (process 0 hosts the coordination service).
  run_dir, env = str(tmp_path / "run{process}"), dict(GENS=2, CHECKPOINT_EVERY=2)
  all_succeed(job(Loopback(), lambda i: tmp_path / f"a{i}.npz", RUN_DIR=run_dir, **env),
              timeout=300)
  config = (tmp_path / "run0" / "config.json").read_text()
  said = _refused(tmp_path, "b", RUN_DIR=run_dir, RESUME="1", SIGMA="0.2", **env)
  for i, line in enumerate(said):
    assert f"process {i} of 2: resume: sigma=0.2 but the run in" in line, line
  said = _refused(tmp_path, "c", RUN_DIR=run_dir, **env)
  for i, line in enumerate(said):
    assert f"process {i} of 2: " in line and "already holds another run's files" in line, line
  assert (tmp_path / "run0" / "config.json").read_text() == config
  assert not (tmp_path / "run1").exists()
