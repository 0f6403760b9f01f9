"""Continuous batching of episodes (esjax/core/lanes.py): a device's members run through a
few lanes as a queue, compacted into narrower lanes for the last episodes, and every member's
return, step count and observation sums are the very bits of the chunked loop (lanes=0), on
any device count. The env is a tiny one written here, whose episodes end at different steps
for different members, so lanes really are handed on."""
import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.core import lanes as lanes_lib
from esjax.envs import spaces
from esjax.policies import make_policy
from esjax.problems import normalizer as norm_lib
from esjax.problems.interface import action_view, obs_view
from esjax.problems.rollout import env_problem
from tests.helpers.subproc import run_all


class Wobble:
  """A point pushed by its policy and by noise; the episode ends when it leaves the unit
  square (reward 1 per step inside), so members fall at many different steps."""
  observation_space = spaces.Box((4,))
  action_space = spaces.Box((2,), -1.0, 1.0)
  episode_length = 60

  def reset(self, key):
    pos = jax.random.uniform(key, (2,), minval=-0.5, maxval=0.5)
    return (pos, jnp.zeros(2)), jnp.concatenate([pos, jnp.zeros(2)])

  def step(self, state, action, key):
    pos, vel = state
    vel = 0.8 * vel + 0.1 * action + 0.05 * jax.random.normal(key, (2,))
    pos = pos + vel
    out = jnp.any(jnp.abs(pos) > 1.0)
    return (pos, vel), jnp.concatenate([pos, vel]), 1.0 - jnp.sum(pos * pos), out


def _problem():
  env = Wobble()
  policy, params = make_policy("mlp", (4,), 2, (8,), "tanh", jax.random.PRNGKey(0))
  return env_problem(env, policy, obs_view(env.observation_space),
                     action_view(env.action_space), env.episode_length), params


def test_widths_narrow_to_seven_eighths_and_three_quarters_then_halve_capped_by_the_slice():
  assert lanes_lib.widths(128, 128, 6) == (128, 112, 96, 48, 24, 12, 6)
  assert lanes_lib.widths(64, 256, 2) == (64, 56, 48)
  assert lanes_lib.widths(64, 16, 3) == (16, 14, 12, 6)
  assert lanes_lib.widths(4, 256, 5) == (4, 3, 2)  # no width twice
  assert lanes_lib.widths(2, 256, 3) == (2,)
  assert lanes_lib.widths(1, 256, 3) == (1,)
  assert lanes_lib.widths(8, 256, 0) == (8,)


def test_no_width_is_one_lane_unless_the_lanes_or_the_slice_are():
  # A batch of one compiles another program on XLA CPU (lanes.widths): other bits.
  for lanes in range(2, 140):
    for local in (2, 3, 8, 16, 128, 512):
      for n in range(10):
        assert min(lanes_lib.widths(lanes, local, n)) >= 2
  assert lanes_lib.widths(16, 16, 8) == (16, 14, 12, 6, 3, 2)
  assert lanes_lib.widths(128, 128, 8) == (128, 112, 96, 48, 24, 12, 6, 3, 2)
  assert lanes_lib.widths(128, 1, 6) == (1,)


def test_default_lanes_are_at_most_128_on_cpu_and_the_slice_elsewhere():
  assert [lanes_lib.default_lanes(n, "cpu") for n in (16, 128, 512)] == [16, 128, 128]
  assert lanes_lib.default_lanes(2048, "gpu") == 2048


def test_lanes_settings_are_checked_in_one_line():
  for flat, bad in (("lanes", -1), ("lane_narrowings", -2), ("lanes", 1.5)):
    with pytest.raises(esjax.ConfigError, match=f"{flat}={bad} is invalid; expected an integer"):
      esjax.TrainConfig.of(**{flat: bad}).validate()
  with pytest.raises(esjax.ConfigError, match="lanes=1 is invalid; expected 0 .off., auto"):
    esjax.TrainConfig.of(lanes=1).validate()
  esjax.TrainConfig.of(lanes=0, lane_narrowings=0).validate()
  # Low-rank members keep the chunked loop: lanes would be ignored, so they are refused.
  with pytest.raises(esjax.ConfigError, match="lanes=8 needs perturbation='full'"):
    esjax.TrainConfig.of(lanes=8, perturbation="lowrank").validate()
  esjax.TrainConfig.of(lanes=None, perturbation="lowrank").validate()  # the default: no lanes


def test_the_lanes_flag_takes_auto_for_the_backend_default():
  from esjax.config import settings  # pylint: disable=g-import-not-at-top
  assert [settings.lanes_value(t) for t in ("auto", "None", "128", "0")] == [None, None, 128, 0]
  with pytest.raises(argparse.ArgumentTypeError, match="'x'; expected auto or a whole number"):
    settings.lanes_value("x")


@pytest.mark.parametrize("lane_widths", [(8,), (8, 4, 2), (5, 2, 1), (64,)])
def test_every_member_gets_the_bits_of_its_own_vmapped_episode(lane_widths):
  problem, params = _problem()
  n = 40
  cands = params + 0.5 * jax.random.normal(jax.random.PRNGKey(1), (n, params.shape[0]))
  keys = jax.random.split(jax.random.PRNGKey(2), n)
  normalizer = norm_lib.init(4)
  ref = jax.jit(jax.vmap(problem.evaluate, in_axes=(0, None, 0)))(cands, normalizer, keys)

  @jax.jit
  def queued(cands, keys):
    episode = problem.episode(normalizer, None)
    return lanes_lib.run(episode, jax.vmap(episode.start)(cands, keys), lane_widths)

  out = queued(cands, keys)
  steps = np.asarray(ref.steps)
  assert len(set(steps.tolist())) > 5 and steps.min() < 60  # members end at many steps
  for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
    assert np.array_equal(np.asarray(a), np.asarray(b))


def _config(**kw):
  return esjax.TrainConfig.of(population_size=1024, hidden_sizes=(8,), generations=3,
                              eval_every=0, sigma=0.3, member_chunk=64, **kw)


def _untimed(metrics):
  return [{k: v for k, v in m.items() if k not in ("wall_s", "steps_per_s")} for m in metrics]


def _run(**kw):
  r = esjax.train(_config(**kw), env=Wobble(), progress=False)
  return np.asarray(r.flat_params), _untimed(r.metrics)


@pytest.mark.slow  # 20-50 s: the quick tier keeps under 15 minutes
def test_a_population_larger_than_the_lanes_trains_to_the_bits_of_the_chunked_loop():
  params, metrics = _run(lanes=8)
  ref_params, ref_metrics = _run(lanes=0)
  assert np.array_equal(params, ref_params)
  assert metrics == ref_metrics
  assert 5 < metrics[0]["episode_length_mean"] < 55  # lanes were handed on


@pytest.mark.slow  # 20-50 s: the quick tier keeps under 15 minutes
def test_rollout_tricks_the_adaptive_cutoff_and_a_sweep_in_lanes_give_the_chunked_bits():
  tricks = dict(population_size=64, member_chunk=16, action_noise=0.1, frame_skip=2,
                obs_stat_prob=0.5, adaptive_cutoff=8, cutoff_threshold=0.2, cutoff_ratio=2.0,
                sweep={"sigma": (0.1, 0.4)}, hidden_sizes=(8,), generations=3, eval_every=0)
  runs = [esjax.train(esjax.TrainConfig.of(lanes=lanes, **tricks), env=Wobble(),
                      progress=False) for lanes in (3, 0)]
  (a, b) = [(np.asarray(r.flat_params), _untimed(r.metrics)) for r in runs]
  assert np.array_equal(a[0], b[0]) and a[1] == b[1]
  assert a[1][-1]["episode_cutoff_per_seed"] != a[1][0]["episode_cutoff_per_seed"]


_DEVICES = """
import json, jax, esjax
from tests.core.test_lanes import Wobble, _config
r = esjax.train(_config(lanes=LANES), env=Wobble(), progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist(),
                  "returns": [m["pop_return_mean"] for m in r.metrics]}))
"""


@pytest.mark.slow
def test_pop_1024_in_8_lanes_is_bitwise_the_same_on_1_2_4_devices_and_without_lanes():
  runs = run_all(_DEVICES.replace("LANES", "8"), (1, 2, 4), timeout=600)
  ref = run_all(_DEVICES.replace("LANES", "0"), (1,), timeout=600)[1]
  assert [runs[n]["devices"] for n in (1, 2, 4)] == [1, 2, 4]
  for n in (1, 2, 4):
    assert runs[n]["params"] == ref["params"] and runs[n]["returns"] == ref["returns"]


def test_a_config_saved_with_lane_halvings_reads_as_lane_narrowings():
  saved = json.loads(esjax.TrainConfig.of(lane_narrowings=3).to_json())
  saved["runtime"]["lane_halvings"] = saved["runtime"].pop("lane_narrowings")
  assert esjax.TrainConfig.from_dict(saved).runtime.lane_narrowings == 3


# A run's final params in a child process: ``.format(config=...)`` names the settings.
_TRAIN = """
import json, jax, esjax
r = esjax.train(esjax.TrainConfig.of(eval_every=0, {config}), progress=False)
print(json.dumps({{"devices": jax.device_count(), "params": r.flat_params.tolist()}}))
"""


def _walker(lanes):
  return _TRAIN.format(config=f"env='walker2d', generations=2, lanes={lanes}")


@pytest.mark.long
@pytest.mark.timeout(1500)
def test_walker2d_in_lanes_on_2_devices_gives_the_one_device_bits():
  """The chunked loop on 2 CPU devices does not reproduce walker2d's 1-device bits
  (benchmarks/results/live_steps_more.md, same_bits_as_off); the lanes do, on 1 and 2
  devices, and equal the chunked loop on 1."""
  lanes = run_all(_walker(128), (1, 2), timeout=1400)
  off = run_all(_walker(0), (1,), timeout=1400)[1]
  assert [lanes[n]["devices"] for n in (1, 2)] == [1, 2]
  assert lanes[1]["params"] == off["params"] and lanes[2]["params"] == off["params"]


def _ant(lanes):
  return _TRAIN.format(config=f"env='ant', generations=2, lanes={lanes}")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_ant_in_128_lanes_gives_the_chunked_loops_bits():
  """Needs XLA's YNNPACK dot fusions off (esjax/xla_env.py): with them, a step of 80 or more
  ant episodes hands three more dots to the library than chunks of 64 do, and every member's
  return moved."""
  lanes = run_all(_ant(128), (2,), timeout=1400)[2]
  off = run_all(_ant(0), (2,), timeout=1400)[2]
  assert lanes["devices"] == off["devices"] == 2
  assert lanes["params"] == off["params"]


def _hopper_16(lanes):
  return _TRAIN.format(config=f"env='hopper', population_size=16, generations=8, lanes={lanes}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_hopper_at_pop_16_in_lanes_gives_the_chunked_loops_bits():
  """Slices of 16 and 8 members: lanes of (16, 14, 12, 6, 3, 2) and (8, 7, 6, 3, 2). With a
  last width of 1 the params parted after 3 generations (lanes.widths: a batch of one)."""
  lanes = run_all(_hopper_16(None), (1, 2), timeout=800)
  off = run_all(_hopper_16(0), (1, 2), timeout=800)  # chunks of 16 and 8: not the same bits
  for n in (1, 2):
    assert lanes[n]["devices"] == off[n]["devices"] == n
    assert lanes[n]["params"] == off[n]["params"]
