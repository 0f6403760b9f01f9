"""The benchmark helpers and the noise variants (no Brax compile: seconds, not minutes)."""
import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import common
from benchmarks import noise as noise_bench
from benchmarks import peers
from benchmarks import presets as presets_bench
from benchmarks import reacher_reference
from esjax.perturbations import gaussian as noise


def test_compile_counter_counts_new_shapes_only():
  f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
  x7, x9 = np.ones(7, np.float32), np.ones(9, np.float32)  # numpy: building them compiles nothing
  with common.CompileCounter() as first:
    f(x7).block_until_ready()
  with common.CompileCounter() as again:
    for _ in range(3):
      f(x7).block_until_ready()
  with common.CompileCounter() as new_shape:
    f(x9).block_until_ready()
  assert (first.count, again.count, new_shape.count) == (1, 0, 1)
  assert first.seconds > 0


def test_write_results_writes_md_csv_json_with_machine(tmp_path):
  rows = [{"a": 1, "b": 2.5, "c": "x"}, {"a": 2, "b": 12345.6, "c": "y"}]
  md = common.write_results("t", "Title", rows, ["a note"], command="cmd --flag",
                            out_dir=str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ["t.csv", "t.json", "t.md"]  # no .tmp left behind
  assert "`cmd --flag`" in md and "| 2 | 12,346 | y |" in md and "- a note" in md
  assert f"jax={jax.__version__}" in md and "cores=" in md
  with open(tmp_path / "t.csv") as f:
    assert [r["c"] for r in csv.DictReader(f)] == ["x", "y"]
  payload = json.loads((tmp_path / "t.json").read_text())
  assert payload["machine"]["jax"] == jax.__version__ and payload["rows"][1]["b"] == 12345.6


def test_write_results_records_the_machine_it_is_given(tmp_path):
  # Rows measured on a lent GPU are tabled here: the table must name that machine, not this.
  gpu = {"device": "NVIDIA H200", "jax": "0.11.2", "backend": "gpu"}
  md = common.write_results("g", "T", [{"a": 1}], [], command="c", out_dir=str(tmp_path),
                            machine=gpu)
  assert "Machine: device=NVIDIA H200, jax=0.11.2, backend=gpu" in md
  assert json.loads((tmp_path / "g.json").read_text())["machine"] == gpu


def test_a_recorded_gpu_run_is_tabled_as_a_cut_run_of_its_exact_command(tmp_path, monkeypatch):
  # What gpu.sh presets brings back: the kept files and a log line per run.
  root, keep = tmp_path / "device", tmp_path / "kept"
  (root / "ant").mkdir(parents=True)
  (root / "ant" / "config.json").write_text(json.dumps({"runtime": {"generations": 400}}))
  lines = [{"generation": g, "env_steps": 1000 * g, "wall_s": 2.0 * g} for g in (1, 2, 3)]
  lines[1].update(eval_return=10.0, eval_return_std=1.0)
  lines[2].update(eval_return=8.0, eval_return_std=0.5)
  (root / "ant" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
  (root / "ant" / "curves.png").write_bytes(b"png")  # present: nothing to draw
  (root / "presets.log").write_text("humanoid: exit 137 after 288 s (cap 288 s)\n"
                                    "ant: exit 137 after 240 s (cap 240 s)\n")
  monkeypatch.setattr(presets_bench, "OUT", str(keep))
  row = presets_bench.recorded("ant", str(root))
  assert row["command"] == "esjax train --preset ant"
  assert row["generations"] == "3 of 400" and row["process_wall_s"] == 240.0
  assert (row["eval_return"], row["eval_std"], row["best_eval_return"]) == (8.0, 0.5, 10.0)
  assert row["best_at_env_steps"] == 2000 and row["train_wall_s"] == 6.0
  assert sorted(os.listdir(keep / "ant")) == ["config.json", "curves.png", "metrics.jsonl"]


def test_train_in_child_runs_the_config_in_a_fresh_process_and_reports_its_run(tmp_path):
  small = dict(env="gymnax:CartPole-v1", population_size=16, generations=3, eval_every=0,
               episode_length=20)
  r = common.train_in_child(small, compile_cache=str(tmp_path))  # fills the cache
  assert r["wall_s"] > r["first_s"] > 0 and r["gen_s"] > 0 and r["devices"] >= 1
  assert r["eval_return"] is None and len(r["sha256"]) == 64  # eval_every=0: no evaluation
  assert os.listdir(tmp_path)
  again = common.train_in_child(dict(small, generations=2))
  assert again["sha256"] != r["sha256"]  # the config given is the one trained
  # live_steps --default-run --cached: the run that loads its compiled step from the cache
  # ends in the bits of the run that compiled it.
  assert common.train_in_child(small, compile_cache=str(tmp_path))["sha256"] == r["sha256"]
  with pytest.raises(RuntimeError, match="population_size"):
    common.train_in_child(dict(small, population_size=-2))


def test_reacher_reference_pd_turns_the_arm_toward_the_target():
  # Arm straight along +x (q = 0), target 0.1 above the fingertip: both joints must turn
  # counter-clockwise, by J^T e = (0.21, 0.11) * 0.1 * kp; the velocity term opposes motion.
  obs = jnp.array([1.0, 1.0, 0.0, 0.0, 0.21, 0.1, 0.0, 0.0, 0.0, -0.1, 0.0])
  np.testing.assert_allclose(reacher_reference.pd_action(obs, 10.0, 0.0), [0.21, 0.11],
                             rtol=1e-6)
  moving = obs.at[6:8].set(jnp.array([2.0, 0.0]))
  np.testing.assert_allclose(reacher_reference.pd_action(moving, 10.0, 0.05), [0.11, 0.11],
                             rtol=1e-6)
  assert float(jnp.abs(reacher_reference.pd_action(obs, 1e4, 0.0)).max()) == 1.0  # clipped


def test_threefry_variant_is_esjax_noise():
  make_key, eps = noise_bench.key_variant("threefry2x32")
  ask, tell = noise_bench.build(eps, population=8, num_params=5, chunk=3, sigma=0.5)
  gk = make_key(0)
  theta = jnp.arange(5.0)
  want = jax.vmap(lambda m: noise.member_noise(gk, m, 5, True))(jnp.arange(8))
  np.testing.assert_allclose(ask(gk, theta), theta + 0.5 * want, rtol=1e-6)
  w = jnp.array([0.3, -1.0, 2.0, 0.5])
  np.testing.assert_allclose(tell(gk, w), noise.weighted_noise_sum(gk, w, 5, 3), rtol=1e-5)


def test_table_noise_is_key_determined_normal_and_consistent():
  make_key, eps = noise_bench.table_variant(jax.random.normal(jax.random.PRNGKey(1), (2**16,)))
  ask, tell = noise_bench.build(eps, population=64, num_params=500, chunk=16, sigma=1.0)
  theta = jnp.zeros(500)
  a, b = ask(make_key(0), theta), ask(make_key(0), theta)
  np.testing.assert_array_equal(a, b)  # same (seed, generation, index): same noise
  assert not np.allclose(a, ask(make_key(1), theta))
  np.testing.assert_allclose(a[0::2], -a[1::2])  # mirrored pairs
  assert abs(float(a.std()) - 1.0) < 0.05 and abs(float(a.mean())) < 0.05
  # tell is the weighted sum of the same directions ask used.
  w = jnp.linspace(-1.0, 1.0, 32)
  np.testing.assert_allclose(tell(make_key(0), w), w @ a[0::2], rtol=1e-4, atol=1e-4)
  assert noise_bench.ask_tell_consistent(ask, tell, make_key(0), 500, 64, sigma=1.0)


def test_consistency_check_agrees_with_a_direct_batch_comparison():
  # rbg keys under vmap may give one key different bits depending on its batch position;
  # the benchmark's flag must say exactly what a direct comparison says, whatever this JAX does.
  for impl in ("threefry2x32", "rbg"):
    make_key, eps = noise_bench.key_variant(impl)
    ask, tell = noise_bench.build(eps, population=16, num_params=40, chunk=4, sigma=1.0)
    gk = make_key(0)
    single = jnp.stack([eps(gk, p, 40) for p in range(8)])
    direct = bool(np.allclose(ask(gk, jnp.zeros(40))[0::2], single, atol=1e-5))
    assert noise_bench.ask_tell_consistent(ask, tell, gk, 40, 16, sigma=1.0) == direct
    if impl == "threefry2x32":
      assert direct


def test_summarize_rate_is_second_half_and_finds_threshold():
  # The first points carry compiles (10 s, 5 s); the second half runs at 200 steps/s.
  curve = [(100, 10.0, 1.0), (200, 15.0, 5.0), (400, 16.0, 7.0), (800, 18.0, 9.0)]
  row = peers.summarize("m", curve, 9.5, 14.0, 42.0, threshold=5.0, settings="s")
  assert row["live_steps_per_s"] == pytest.approx(400 / 2.0)
  assert row["steps_to_threshold"] == 200 and row["live_env_steps"] == 800
  assert np.isnan(row["live_steps_per_cpu_s"])  # no CPU times logged
  # Second half (points 2..3): 400 steps in 2 CPU-seconds.
  cpu_curve = [c + (cpu,) for c, cpu in zip(curve, [1.0, 4.0, 5.0, 7.0])]
  assert peers.summarize("m", cpu_curve, 0, 0, 0, 5.0, "")["live_steps_per_cpu_s"] == (
      pytest.approx(400 / 2.0))
  assert peers.summarize("m", curve, 0, 0, 0, threshold=99.0, settings="")[
      "steps_to_threshold"] == "not reached"


def test_lane_schedule_replays_the_queue_the_compaction_and_the_widths_cost():
  from benchmarks import lane_schedule as ls  # pylint: disable=g-import-not-at-top
  unit = lambda w: float(w)  # a step costs its width
  # A queue of 2 lanes over 4 members: lane 0 runs members 0, 2, 3 (2 + 1 + 1 steps) while
  # lane 1 runs member 1 (5 steps).
  assert ls.replay(np.array([[2, 5, 1, 1]]), (2,), unit) == (10.0, 5)
  # Three episodes end at step 1: one step at width 4, then the last 9 steps at width 1 (2 is
  # skipped: one member left fits below it).
  assert ls.replay(np.array([[1, 1, 1, 10]]), (4, 2, 1), unit) == (4.0 + 9.0, 10)
  # Equal episodes at full width: every step live, the bare rate.
  assert ls.predicted(np.full((3, 2, 8), 7), (8, 4), unit) == 1.0
  assert ls.predicted(np.array([[[1, 1, 1, 10]]]), (4,), unit) == pytest.approx(13 / 40)
  # A generation waits for its slower device: 12 live steps of 2 lanes on 2 devices in 5
  # steps, where bare physics steps 20.
  assert ls.predicted(np.array([[[1, 1], [5, 5]]]), (2,), unit) == pytest.approx(12 / 20)
  # Shared tails: on two devices in lockstep, after the first step the two members left
  # (both on the second device) fit one lane each, dealt one per device.
  assert ls.replay(np.array([[1, 1], [5, 5]]), (2, 1), unit) == (2.0 + 4.0, 5)
  assert ls.predicted(np.array([[[1, 1], [5, 5]]]), (2, 1), unit, shared=True) == 1.0
  assert ls.predicted(np.array([[[1, 1], [5, 5]]]), (2, 1), unit) == pytest.approx(0.6)
  widths = ls.schedules(128)
  assert widths["lanes=128, 6 narrowings"] == (128, 112, 96, 48, 24, 12, 6)
  assert widths["lanes=64, three quarters first (before)"] == (64, 48, 24, 12, 6, 3)


def test_live_steps_ratio_pairs_each_timing_with_the_bare_timing_beside_it():
  from benchmarks import live_steps  # pylint: disable=g-import-not-at-top
  # The machine halves its speed between rounds: each pair sees the same machine, so the
  # ratio holds (600 live steps in 2 s = 300/s against 1,000 bare steps in 1.2 s = 833/s).
  ratios = live_steps.paired_ratios(600, [2.0, 4.0], [1.2, 2.4], 1000)
  assert ratios == pytest.approx([0.36, 0.36])
  assert live_steps.paired_ratios(500, [1.0], [1.0], 1000) == [0.5]


def test_paired_times_each_call_right_after_the_reference(monkeypatch):
  # A fake clock: the machine slows by half every round, and each call advances the clock by
  # its cost at the machine's speed then. Paired ratios see the same machine each time.
  clock, calls = [0.0], []
  speed = {"now": 1.0}

  def call(name, cost):
    def fn():
      calls.append(name)
      clock[0] += cost * speed["now"]
    return fn

  def ref():
    calls.append("ref")
    if calls.count("ref") in (4, 6):  # the first call of rounds 2 and 3
      speed["now"] *= 2.0
    clock[0] += 1.0 * speed["now"]
  monkeypatch.setattr(common.time, "perf_counter", lambda: clock[0])
  got = common.paired({"a": call("a", 0.5), "b": call("b", 3.0)}, ref, rounds=3)
  # Compile calls first (ref, a, b), then round-robin: ref a ref b, three rounds.
  assert calls == ["ref", "a", "b"] + ["ref", "a", "ref", "b"] * 3
  assert got["a"]["ratio"] == 0.5 and got["b"]["ratio"] == 3.0
  assert got["a"]["seconds"] == 1.0 and got["a"]["ref_seconds"] == 2.0


def test_lane_ladders_parses_ladders_and_puts_the_default_back():
  from benchmarks import lane_ladders as ll  # pylint: disable=g-import-not-at-top
  from esjax.core import lanes  # pylint: disable=g-import-not-at-top
  assert ll.parse_ladder("128,64,2") == (128, 64, 2)
  for bad in ("64,32,2", "128,128,2", "128,2,4", "128,64,1", "128,x"):
    with pytest.raises(ValueError, match="strictly narrowing"):
      ll.parse_ladder(bad)
  default = lanes.widths(128, 128)
  with ll.ladder_widths((128, 64, 2)):
    assert lanes.widths(128, 128, 8) == (128, 64, 2)
  assert lanes.widths(128, 128) == default
  run = ll._under((128, 32, 2), lambda: lanes.widths(128, 128))  # pylint: disable=protected-access
  assert run() == (128, 32, 2) and lanes.widths(128, 128) == default
