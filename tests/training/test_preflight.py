"""Before the first generation: the plan block, and a population that cannot fit refused."""
import jax.numpy as jnp
import pytest

import esjax
from esjax import cli
from esjax.runtime import preflight

PARAMS = 5000


def _config(**kw):
  return esjax.TrainConfig.of(**{**dict(population_size=64, generations=1, eval_every=0,
                                        normalize_obs=False, noise_chunk=64), **kw})


def _sphere(p, k):
  return -jnp.sum(p * p)


def test_the_plan_names_devices_members_params_traffic_and_memory(capsys):
  s = esjax.setup(_config(), problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS))
  p = preflight.plan(s)
  assert (p.devices, p.members_per_device, p.num_params) == (1, 64, PARAMS)
  # On one device XLA keeps the step's gathers, each over a group of one device: nothing
  # crosses, and the plan says 0 (2+ devices: tests/core/test_hlo_traffic.py).
  assert p.bytes_per_generation == 0 and p.axis_bytes == (0, 0)
  # The state in and out holds at least the mean and Adam's two moments.
  assert p.fixed_bytes >= 3 * 4 * PARAMS and p.step_bytes > p.fixed_bytes
  assert p.device_bytes and p.device_bytes > p.step_bytes
  esjax.train(_config(), problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS),
              progress=True, compile_cache=False)
  out = capsys.readouterr().out
  assert "devices: 1 on 1 process(es); 64 of 64 members per device" in out
  assert (f"parameters: {PARAMS:,}; crossing devices per generation: "
          f"{p.bytes_per_generation:,} bytes") in out
  assert "memory per device: the step needs" in out
  # --comm auto says what it chose and why, in one line (core/comm.py).
  assert "\ncomm: auto -> returns: the update rebuilds " in out


def test_the_search_tries_only_populations_the_layout_takes():
  # With member chunks of 32 a trial population of 2 x k was refused by check_devices, so the
  # user read a member_chunk error about a population they never asked for.
  s = esjax.setup(_config(), problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS))
  p = preflight.plan(s)
  with pytest.raises(esjax.ConfigError) as e:
    esjax.train(_config(population_size=512, member_chunk=32), problem=esjax.black_box(_sphere),
                initial_params=jnp.zeros(PARAMS), progress=False,
                memory_limit=(p.fixed_bytes + p.step_bytes) // 2)
  msg = str(e.value)
  assert msg.startswith("population_size=512 needs ") and "member_chunk" not in msg, msg


def test_a_population_that_cannot_fit_is_one_line_naming_the_largest_that_does(tmp_path):
  POP = 512  # the search bisects 8 times; 4096 compiled 3 more candidates and covered no more
  s = esjax.setup(_config(), problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS))
  p = preflight.plan(s)
  # A limit between the state alone and the whole step: some smaller population fits.
  limit = (p.fixed_bytes + p.step_bytes) // 2
  out = tmp_path / "run"
  with pytest.raises(esjax.ConfigError) as e:
    esjax.train(_config(population_size=POP), out_dir=str(out),
                problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS),
                progress=False, memory_limit=limit)
  msg = str(e.value)
  assert "\n" not in msg and msg.startswith(f"population_size={POP} needs ")
  largest = int(msg.split("fits on these 1 device(s) is ")[1].split()[0])
  assert 2 <= largest < POP and largest % 2 == 0
  assert not out.exists()  # refused before anything was written
  # The named population does fit the same limit, and the next multiple up does not.
  def plan(pop):
    return preflight.plan(esjax.setup(_config(population_size=pop),
                                      problem=esjax.black_box(_sphere),
                                      initial_params=jnp.zeros(PARAMS)), limit)
  preflight.check_fits(plan(largest), multiple=2)
  assert plan(POP).step_bytes > limit


@pytest.mark.parametrize("pop,per_device,pair,want", [
    (256, 28, 2, 16),   # 10 devices hold 28 each, but 256 splits evenly into pairs on 16
    (256, 128, 2, 2), (256, 100, 1, 4), (96, 20, 2, 6), (6, 1, 2, None)])
def test_the_device_count_named_divides_the_population(pop, per_device, pair, want):
  assert preflight.devices_for(pop, per_device, pair) == want


def test_state_alone_too_large_says_so():
  s = esjax.setup(_config(), problem=esjax.black_box(_sphere), initial_params=jnp.zeros(PARAMS))
  p = preflight.plan(s, memory_limit=1000)
  with pytest.raises(esjax.ConfigError, match="not even population_size=2 fits"):
    preflight.check_fits(p, multiple=2)


@pytest.mark.parametrize("text,want", [("512M", 512 * 2**20), ("2G", 2 * 2**30),
                                       ("1.5k", 1536), ("4096", 4096), ("3GiB", 3 * 2**30)])
def test_sizes_parse(text, want):
  assert preflight.parse_size(text) == want


def test_bad_memory_limit_flag_exits_2_before_anything(tmp_path, capsys):
  out = tmp_path / "run"
  assert cli.main(["train", "--memory-limit", "lots", "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err == ["esjax: error: memory limit 'lots' is invalid; expected a size such as 512M, "
                 "2G or a number of bytes"]
  assert not out.exists()
