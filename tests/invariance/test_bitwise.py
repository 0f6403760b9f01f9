"""Issue 10: the same config gives the same policy, bit for bit, on any device layout.

Members are evaluated in chunks of ``member_chunk`` (the same compiled chunk on every layout),
every sum that feeds the state is taken in member order, and FMA is off on CPU (esjax/xla_env.py):
so params and metrics are *equal*, not close, on 1, 2 and 4 devices, on 2 processes x 2
devices, and across a checkpoint resumed on another device count. See docs/reproducibility.md.
"""
import json
import os
import socket
import subprocess
import sys

import pytest

import esjax
from esjax.core import step as step_lib
from tests.helpers.subproc import ROOT, env_with_devices, run_all

WORKER = os.path.join(ROOT, "tests", "helpers", "inv_worker.py")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(out, devices, kind, *job, **env):
  return subprocess.Popen([sys.executable, WORKER, str(out), str(devices), kind,
                           *map(str, job)], cwd=ROOT,
                          env=env_with_devices(devices, **env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _wait(procs, timeout):
  try:
    for p in procs:
      try:
        _, err = p.communicate(timeout=timeout)
      except subprocess.TimeoutExpired:
        pytest.fail(f"worker ran past {timeout} s")
      assert p.returncode == 0, err[-3000:]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()


def _load(path):
  with open(path) as f:
    return json.load(f)


def _without_eval_at(metrics, generation):
  """The 5-generation leg evaluates at its end (gen 5), the uninterrupted run does not."""
  return [{k: v for k, v in m.items() if not (m["generation"] == generation
                                              and k.startswith("eval_return"))}
          for m in metrics]


def _assert_same(run, ref):
  assert run["params"] == ref["params"]  # float lists from JSON: exact equality, bitwise
  assert run["metrics"] == ref["metrics"]


# ---- fast: config checks and the default chunk ----

def test_member_chunk_must_divide_each_devices_slice():
  cfg = esjax.TrainConfig.of(population_size=256, member_chunk=48)
  with pytest.raises(esjax.ConfigError) as e:
    cfg.validate(device_count=2)
  msg = str(e.value)
  assert "member_chunk=48" in msg and "slice of 128 members" in msg and "\n" not in msg
  assert "1, 2, 4, 8, 16, 32, 64, 128" in msg
  esjax.TrainConfig.of(population_size=256, member_chunk=64).validate(device_count=4)
  with pytest.raises(esjax.ConfigError, match="member_chunk=0 is invalid"):
    esjax.TrainConfig.of(member_chunk=0).validate()


def test_default_chunk_is_64_on_cpu_and_the_slice_on_accelerators():
  # pop 256 on 1, 2, 4 devices: one chunk size, so one compiled chunk, on every layout.
  assert [step_lib.default_member_chunk(256 // n, "cpu") for n in (1, 2, 4)] == [64] * 3
  assert step_lib.default_member_chunk(96, "cpu") == 48  # largest divisor up to 64
  assert step_lib.default_member_chunk(8, "cpu") == 8
  assert step_lib.default_member_chunk(4096, "gpu") == 4096


def test_cli_member_chunk_flag():
  from esjax.cli import app
  args = app.build_parser().parse_args(["train", "--member-chunk", "32"])
  assert app.config_from_args(args).runtime.member_chunk == 32


# ---- black box: 1, 2, 4 devices and a resume on another count (fast, no Brax) ----

@pytest.fixture(scope="module")
def black_box_runs(tmp_path_factory):
  out = tmp_path_factory.mktemp("bb") / "runs.json"
  _wait([_launch(out, 4, "black_box", LAYOUTS="1,2,4", RESUME="4,1")], timeout=400)
  return _load(out)


def test_black_box_is_bitwise_equal_on_1_2_4_devices(black_box_runs):
  ref = black_box_runs["1"]
  assert ref["metrics"][-1]["pop_return_mean"] > ref["metrics"][0]["pop_return_mean"]
  for n in ("2", "4"):
    _assert_same(black_box_runs[n], ref)


def test_black_box_resumed_on_another_device_count_is_bitwise_equal(black_box_runs):
  _assert_same(black_box_runs["resumed"], black_box_runs["1"])


# ---- the default run (hopper, spring, pop 256, 1000-step episodes), 10 generations ----

@pytest.fixture(scope="module")
def default_runs(tmp_path_factory):
  """One process with 4 devices runs meshes of 1, 2 and 4 plus a 5-on-1 / 5-on-4 resume;
  two processes with 2 devices each run one 4-device job; all at once."""
  d = tmp_path_factory.mktemp("default")
  port = _free_port()
  procs = [_launch(d / "local.json", 4, "brax", LAYOUTS="1,2,4", RESUME="1,4")]
  procs += [_launch(d / f"p{i}.json", 2, "brax", f"localhost:{port}", 2, i) for i in range(2)]
  _wait(procs, timeout=2900)
  return _load(d / "local.json"), [_load(d / f"p{i}.json") for i in range(2)]


@pytest.mark.long  # its fixture held a worker 862 s in .ci/run's slow tier (2026-12-02)
@pytest.mark.timeout(3000)  # the fixture's three processes run in the first test
def test_default_run_is_bitwise_equal_on_1_2_4_devices(default_runs):
  local, _ = default_runs
  ref = local["1"]
  assert len(ref["metrics"]) == 10 and "eval_return" in ref["metrics"][-1]
  for n in ("2", "4"):
    _assert_same(local[n], ref)


@pytest.mark.long  # its fixture held a worker 862 s in .ci/run's slow tier (2026-12-02)
@pytest.mark.timeout(3000)  # the fixture's three processes run in the first test
def test_default_run_on_2_processes_x_2_devices_is_bitwise_equal(default_runs):
  local, procs = default_runs
  assert [p["process"] for p in procs] == [0, 1] and procs[0]["devices"] == 4
  for p in procs:
    _assert_same(p["4"], local["1"])


@pytest.mark.long  # its fixture held a worker 862 s in .ci/run's slow tier (2026-12-02)
@pytest.mark.timeout(3000)  # the fixture's three processes run in the first test
def test_default_run_resumed_on_another_device_count_is_bitwise_equal(default_runs):
  local, _ = default_runs
  resumed, ref = local["resumed"], local["1"]
  assert resumed["params"] == ref["params"]
  assert _without_eval_at(resumed["metrics"], 5) == ref["metrics"]


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_default_run_in_lanes_is_bitwise_equal_on_1_2_4_devices_and_without_lanes(tmp_path):
  """lanes=None: on 1, 2 and 4 devices a queue of 128 lanes over 256, the whole slice of 128
  and the whole slice of 64, each narrowed to 7/8, 3/4 and halved; all equal the chunked
  loop's run."""
  procs = [_launch(tmp_path / "lanes.json", 4, "brax", LAYOUTS="1,2,4", LANES="auto"),
           _launch(tmp_path / "off.json", 1, "brax", LANES="0")]
  _wait(procs, timeout=1700)
  lanes, off = _load(tmp_path / "lanes.json"), _load(tmp_path / "off.json")
  assert len(off["1"]["metrics"]) == 10 and off["1"]["metrics"][0]["episode_length_mean"] < 500
  for n in ("1", "2", "4"):
    _assert_same(lanes[n], off["1"])


_WALKER = """
import hashlib, json, jax, numpy as np, esjax
r = esjax.train(esjax.TrainConfig.of(env='walker2d', generations=1, eval_every=0), progress=False)
print(json.dumps({"devices": jax.device_count(),
                  "sha": hashlib.sha256(np.asarray(r.flat_params).tobytes()).hexdigest()}))
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_walker2d_is_bitwise_equal_on_2_and_4_devices():
  """Every SPMD-partitioned layout compiles walker2d's step alike; the one-device program
  rounds a division chain of Brax's otherwise (XLA's simplifier, docs/reproducibility.md)."""
  runs = run_all(_WALKER, (2, 4), timeout=850)
  assert [runs[n]["devices"] for n in (2, 4)] == [2, 4]
  assert runs[2]["sha"] == runs[4]["sha"]
