"""Disk and directory faults, and run locks (issue 13).

A failed write -- disk full during a checkpoint, a metrics line or params.msgpack; the run
directory removed or made read-only -- is one ``RunIOError`` line naming the path and the
system's error (``esjax train``: that line on stderr and exit code 74), the checkpoints before
it are untouched, and resuming after the cause is fixed gives the uninterrupted run's params.

How each fault is made:
* disk full (checkpoint, params.msgpack) and read-only: a real size-limited tmpfs mounted by the
  test (root only; skipped with the reason elsewhere), filled to ENOSPC or remounted read-only
  at a chosen generation;
* disk full while appending a metrics line: at the system-call level (``os.write`` on
  metrics.jsonl's descriptor raises ENOSPC), since a tmpfs keeps a page of slack after the last
  line and would fail a checkpoint first;
* directory removed: ``shutil.rmtree`` of the run directory mid-run.

Then hosts that fail (slow): two processes, each in its own network namespace with its own
run directory (tests/helpers/netns.py), one killed or cut off from the other mid-run: the other
exits 3 with one line within 30 s, and a resume from process 0's directory, on one host or
both, ends with the uninterrupted job's params.
"""
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from tests.helpers import subproc
from esjax.cli import main
from esjax.errors import RunIOError
from esjax.rundir import checkpoint as ckpt_lib
from esjax.rundir import files as run_io
from esjax.rundir import lock as lock_lib

from tests.helpers import bb_run, mp_launch

from tests.helpers.subproc import ROOT
TIMING = ("wall_s", "steps_per_s")
GENS, EVERY = 15, 5


def untimed(records):
  return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def bb(out=None, resume=False, on_record=None, tensorboard=True):
  return esjax.train(bb_run.config(GENS, EVERY), out_dir=None if out is None else str(out),
                     problem=esjax.black_box(bb_run.fitness),
                     initial_params=jnp.zeros(bb_run.NUM_PARAMS), progress=False,
                     resume=resume, on_record=on_record, tensorboard=tensorboard)


@pytest.fixture(scope="module")
def reference():
  return bb()


@pytest.fixture
def tmpfs(tmp_path):
  mnt = tmp_path / "fs"
  mnt.mkdir()
  r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                     capture_output=True, text=True)
  if r.returncode:
    pytest.skip(f"cannot mount a size-limited tmpfs here ({r.stderr.strip() or r.returncode}; "
                "needs root / CAP_SYS_ADMIN)")
  yield mnt
  subprocess.run(["umount", "-l", str(mnt)])


def fill(mnt):
  """Fills the filesystem at ``mnt`` to ENOSPC; returns the filler's path."""
  path = os.path.join(mnt, "filler")
  fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
  try:
    for size in (1 << 20, 1 << 16, 4096, 512, 1):
      while True:
        try:
          os.write(fd, b"\0" * size)
        except OSError as e:
          assert e.errno == errno.ENOSPC
          break
  finally:
    os.close(fd)
  return path


def steps(out):
  return sorted(int(n) for n in os.listdir(os.path.join(out, "checkpoints")) if n.isdigit())


def assert_resumes_exactly(out, reference):
  result = bb(out, resume=True)
  np.testing.assert_array_equal(result.flat_params, reference.flat_params)
  assert untimed(run_io.read_metrics(str(out))) == untimed(reference.metrics)


def test_disk_full_during_checkpoint(tmpfs, reference):
  out, filler = tmpfs / "run", []
  on_record = lambda rec: rec["generation"] == 10 and filler.append(fill(tmpfs))
  with pytest.raises(RunIOError) as e:
    bb(out, on_record=on_record)
  msg = str(e.value)
  print(msg)
  assert msg == f"cannot write {str(out / 'checkpoints' / '10')!r}: No space left on device"
  assert e.value.errno == errno.ENOSPC
  assert steps(out) == [5]
  ckpt_lib._verify_manifest(str(out / "checkpoints" / "5"))  # sizes and CRCs as written
  os.remove(filler[0])
  assert_resumes_exactly(out, reference)


def test_disk_full_during_metrics_line(tmp_path, reference, monkeypatch):
  if not os.path.isdir("/proc/self/fd"):
    pytest.skip("needs /proc to tell metrics.jsonl's descriptor")
  out, armed = tmp_path / "run", []
  real_write = os.write

  def write(fd, data):  # the system call answers ENOSPC for metrics.jsonl once armed
    if armed and os.readlink(f"/proc/self/fd/{fd}").endswith(run_io.METRICS_FILE):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_write(fd, data)

  monkeypatch.setattr(os, "write", write)
  with pytest.raises(RunIOError) as e:
    bb(out, on_record=lambda rec: rec["generation"] == 7 and armed.append(1))
  assert str(e.value) == (f"cannot write {str(out / 'metrics.jsonl')!r}: No space left on "
                          "device")
  assert steps(out) == [5] and len(run_io.read_metrics(str(out))) == 7
  monkeypatch.setattr(os, "write", real_write)
  assert_resumes_exactly(out, reference)


def test_run_dir_made_read_only(tmpfs, reference):
  out = tmpfs / "run"

  def remount_ro(rec):
    if rec["generation"] == 7:
      subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)

  # TensorBoard off: its event file stays open for writing, which a remount refuses (EBUSY).
  with pytest.raises(RunIOError) as e:
    bb(out, on_record=remount_ro, tensorboard=False)
  print(e.value)
  assert str(e.value) == (f"cannot write {str(out / 'metrics.jsonl')!r}: Read-only file "
                          "system")
  subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
  assert steps(out) == [5]
  assert_resumes_exactly(out, reference)


def test_run_dir_removed(tmp_path):
  out = tmp_path / "run"
  with pytest.raises(RunIOError) as e:
    bb(out, on_record=lambda rec: rec["generation"] == 7 and shutil.rmtree(out))
  assert str(e.value) == (f"cannot write {str(out / 'metrics.jsonl')!r}: No such file or "
                          "directory")
  assert not out.exists()  # nothing recreated a half directory


# ---- Brax through the CLI: params.msgpack on a full disk, run locks ----

TINY = ["--population-size", "8", "--episode-length", "20", "--eval-every", "0",
        "--hidden-sizes", "8,8", "--quiet"]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
  """One compilation cache for these tests' processes: only the first compiles hopper."""
  cache = tmp_path_factory.mktemp("jax-cache")
  return dict(os.environ, PYTHONPATH=ROOT, JAX_COMPILATION_CACHE_DIR=str(cache))


@pytest.mark.slow
def test_cli_disk_full_during_params_write(tmpfs, tmp_path, capsys, monkeypatch, cache_env):
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", cache_env["JAX_COMPILATION_CACHE_DIR"])
  ref_dir = tmp_path / "ref"
  assert main(["train", *TINY, "--generations", "3", "--out", str(ref_dir)]) == 0
  out, filler = tmpfs / "run", []
  real_save = ckpt_lib.Checkpointer.save

  def save(self, state, generation, *args):  # the final checkpoint fits, then the disk is full
    path = real_save(self, state, generation, *args)
    if generation == 3:
      filler.append(fill(tmpfs))
    return path

  monkeypatch.setattr(ckpt_lib.Checkpointer, "save", save)
  capsys.readouterr()
  # No TensorBoard: its event file flushes at close, before params.msgpack is written, and
  # would be the write that fails first (test_run_dir_* cover the other files).
  assert main(["train", *TINY, "--generations", "3", "--no-tensorboard", "--out",
               str(out)]) == 74
  err = capsys.readouterr().err
  print(err)
  # XLA may log a "slow compile" alarm on a loaded machine: esjax's own output is one line.
  err = subproc.without_xla_logs(err)
  assert err.count("\n") == 1
  assert err.startswith(f"esjax: error: cannot write {str(out / 'params.msgpack')!r}: No space "
                        "left on device; the checkpoints before it are intact")
  assert f"esjax train --resume {out}" in err
  assert not os.path.exists(out / "params.msgpack")
  assert not os.path.exists(out / "params.msgpack.tmp")
  assert steps(out) == [3]
  os.remove(filler[0])
  assert main(["train", "--resume", str(out), "--quiet"]) == 0
  np.testing.assert_array_equal(esjax.load(str(out)).flat_params,
                                esjax.load(str(ref_dir)).flat_params)


def _cli(args, env):
  return subprocess.Popen([sys.executable, "-m", "esjax", "train", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_second_run_on_the_same_dir_exits_2_and_a_killed_runs_lock_is_stale(tmp_path,
                                                                             cache_env):
  out = tmp_path / "run"
  first = _cli([*TINY, "--generations", "100000", "--checkpoint-every", "2", "--out", str(out)],
               cache_env)
  end = time.time() + 300
  while not os.path.isdir(out / "checkpoints" / "2"):
    assert first.poll() is None, first.communicate()
    assert time.time() < end, "first run too slow"
    time.sleep(0.1)
  for args in (["--out", str(out)], ["--resume", str(out)]):
    second = _cli([*TINY[-1:], *args], cache_env)
    _, err = second.communicate(timeout=120)
    print(err)
    assert second.returncode == 2
    assert err.strip().splitlines() == [
        f"esjax: error: {str(out)!r} is in use by another esjax run (pid {first.pid} on host "
        f"{socket.gethostname()}, started " + err.split(", started ", 1)[1].strip()]
    assert "wait for it to finish or stop it" in err
  first.kill()  # SIGKILL: the lock file stays, its flock goes with the process
  first.wait()
  assert first.returncode == -signal.SIGKILL
  assert os.path.exists(out / lock_lib.LOCK_FILE)
  resumed = _cli(["--resume", str(out), "--generations", str(steps(out)[-1] + 1), "--quiet"],
                 cache_env)
  stdout, stderr = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, stderr
  assert "done:" in stdout


def test_lock_in_process(tmp_path):
  held = lock_lib.acquire(str(tmp_path / "r"))
  again = lock_lib.acquire(str(tmp_path / "r"))  # re-entrant in one process
  assert again is held
  lock_lib.check_free(str(tmp_path / "r"))  # our own lock does not block us
  # Another process sees it held, and names us.
  code = ("import sys; sys.path.insert(0, %r)\n"
          "from esjax.rundir import lock\n"
          "try:\n  lock.acquire(%r)\nexcept lock.RunLocked as e:\n  print(e); sys.exit(2)\n"
          % (ROOT, str(tmp_path / "r")))
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
  assert r.returncode == 2 and f"pid {os.getpid()} on host {socket.gethostname()}" in r.stdout
  held.release()
  again.release()
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
  assert r.returncode == 0, r.stdout + r.stderr


# ---- Hosts in their own network namespaces, each with its own disk (tests/helpers/netns.py) ----

def _fault_then_resume(tmp_path, victim_env, resume_hosts):
  """An uninterrupted 2-host job, the same job with a fault at generation 5, then a resume
  from process 0's directory on ``resume_hosts`` hosts (1: this machine alone); each host has
  its own run directory. Returns (the faulted job's (rc, stdout, stderr) and seconds from the
  fault to each exit, reference params, resumed params)."""
  env = dict(GENS=8, CHECKPOINT_EVERY=2)
  with mp_launch.network("namespaces") as net:
    ref = mp_launch.job(net, lambda i: tmp_path / f"ref{i}.npz",
                        RUN_DIR=str(tmp_path / "ref{process}"), **env)
    mp_launch.all_succeed(ref, timeout=300)
    run_dir = str(tmp_path / "h{process}")
    victim_env = victim_env(net)
    procs = mp_launch.job(net, lambda i: tmp_path / f"p{i}.npz", RUN_DIR=run_dir,
                          DIE_AFTER_GEN=5, **env, **victim_env)
    try:
      times = mp_launch.exit_times(procs, timeout=300)
      results = [mp_launch.finish(p, timeout=1) for p in procs]
    finally:
      mp_launch.kill_all(procs)
    victim = int(victim_env["DIE_PROCESS"])
    at = mp_launch.fault_time(results[victim][1])
    # Each host was given its own directory: only process 0's was written.
    assert not os.path.exists(tmp_path / "h1") and not os.path.exists(tmp_path / "ref1")
    assert steps(tmp_path / "h0") == [2, 4]
    net.link_up(victim)  # a cut cable is mended before the job resumes
    if resume_hosts == 1:
      resumed = [mp_launch.launch(net, None, tmp_path / "r0.npz", 2, RESUME=1,
                                  RUN_DIR=run_dir, **env)]
    else:  # process 1's directory does not exist: it is sent process 0's checkpoint
      resumed = mp_launch.job(net, lambda i: tmp_path / f"r{i}.npz", RESUME=1,
                              RUN_DIR=run_dir, **env)
    mp_launch.all_succeed(resumed, timeout=300)
  seconds = {i: t - at for i, t in times.items()}
  resumed = [np.load(tmp_path / f"r{i}.npz")["params"] for i in range(resume_hosts)]
  return results, seconds, np.load(tmp_path / "ref0.npz")["params"], resumed


def _exited_3_at_once(result, process, seconds):
  rc, _, err = result
  print(f"process {process}: exit {rc}, {seconds:.1f} s after the fault")
  assert rc == 3, err[-2000:]
  lines = subproc.without_xla_logs(err).strip().splitlines()
  assert [ln for ln in lines if ln.startswith("esjax: ")] == [lines[-1]], err[-2000:]
  assert f"process {process} of 2: the multi-process job failed" in lines[-1]
  assert seconds < 30, f"process {process} took {seconds:.1f} s to exit"


@pytest.mark.slow
def test_a_killed_host_then_resume_on_one_host_continues_bit_for_bit(tmp_path):
  results, seconds, ref, resumed = _fault_then_resume(
      tmp_path, lambda net: {"DIE_PROCESS": 1}, resume_hosts=1)
  assert results[1][0] == -9
  _exited_3_at_once(results[0], 0, seconds[0])
  np.testing.assert_array_equal(resumed[0], ref)


@pytest.mark.slow
def test_a_host_cut_off_then_resume_on_both_hosts_continues_bit_for_bit(tmp_path):
  results, seconds, ref, resumed = _fault_then_resume(
      tmp_path, lambda net: {"DIE_PROCESS": 1, "LINK_DOWN": net.links[1]}, resume_hosts=2)
  for i in range(2):
    _exited_3_at_once(results[i], i, seconds[i])
  np.testing.assert_array_equal(resumed[0], ref)
  np.testing.assert_array_equal(resumed[1], ref)
