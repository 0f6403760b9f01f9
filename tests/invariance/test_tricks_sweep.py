"""Device-count invariance of the newer run options (issues 11 and 12): the rollout tricks
(action noise, frame skip, obs-stat sampling, the adaptive cutoff in the state) and a
hyper-parameter sweep give the same bits on 1 and 4 forced CPU devices, because every draw
comes from a member's key and the cutoff from the all-gathered step counts."""
import numpy as np
import pytest

from tests.helpers.subproc import run_all

pytest.importorskip("gymnax")

_RUN = """
import json, jax, esjax
cfg = esjax.TrainConfig.of(env="gymnax:Pendulum-v1", population_size=16, member_chunk=4,
                           generations=4, eval_every=2, eval_episodes=2, hidden_sizes=(8,),
                           action_noise=0.1, frame_skip=2, obs_stat_prob=0.5,
                           adaptive_cutoff=20, cutoff_threshold=0.5, cutoff_ratio=2.0,
                           sweep={"sigma": (0.05, 0.2)}, seed=7)
r = esjax.train(cfg, progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist(),
                  "cutoff": [m["episode_cutoff_per_seed"] for m in r.metrics],
                  "returns": [m["pop_return_mean_per_seed"] for m in r.metrics],
                  "count": r.normalizer.count.tolist()}))
"""


@pytest.mark.slow
def test_tricks_and_a_sweep_are_bitwise_equal_on_1_and_4_devices():
  runs = run_all(_RUN, (1, 4), timeout=600)
  one, four = runs[1], runs[4]
  assert (one["devices"], four["devices"]) == (1, 4)
  params = np.array(one["params"])
  assert params.shape[0] == 2 and not np.array_equal(params[0], params[1])  # two sweep points
  np.testing.assert_array_equal(np.array(four["params"]), params)
  assert four["cutoff"] == one["cutoff"] and four["returns"] == one["returns"]
  assert four["count"] == one["count"]
  assert one["cutoff"][0] == [20, 20] and max(one["cutoff"][-1]) > 20  # the cutoff did grow
