"""Every ``--comm`` mode keeps the layout promise (issue 25): for a config and a mode, the params
are bit for bit the same on 1 device, 4 devices as 1 host x 4, 4 devices as 2 hosts x 2 (one
process, ``hosts=2``), 6 devices as 1 x 6, 2 x 3 and 3 x 2 (axes that are no power of two: a
power-of-two group of each splits the rebuild, the rest receive it) and 2 processes x 2
devices. The split modes (``gradient``, ``hierarchical``) add the same fixed tree of partial
sums on every layout, so they also equal each other; they differ from ``returns`` only in the
last bits.
"""
import sys

import numpy as np
import pytest

from tests.helpers.subproc import run_all
from tests.helpers.mp_launch import all_succeed, free_port, job, launch, network

MODES = ("returns", "gradient", "hierarchical")

_BLACK_BOX = """
import json, jax, jax.numpy as jnp, numpy as np, esjax
DIM = {dim}
target = jnp.linspace(-1.0, 1.0, DIM)
problem = esjax.black_box(lambda p, k: -jnp.sum((p - target) ** 2) + 0.01 * jax.random.normal(k))
out = {{}}
for comm in {modes}:
  for hosts in {layouts}[jax.device_count()]:
    cfg = esjax.TrainConfig.of(population_size=96, generations={gens}, eval_every=0,
                               normalize_obs=False, sigma=0.1, learning_rate=0.05, seed=3,
                               comm=comm, hosts=hosts)
    r = esjax.train(cfg, problem=problem, initial_params=jnp.zeros(DIM), progress=False)
    # The params (device 0's copy) and every generation's mean return, which reads every
    # member's return: a device that held other params would move it.
    means = np.array([m["pop_return_mean"] for m in r.metrics], np.float32)
    out[f"{{comm}}/{{hosts}}"] = np.concatenate([np.asarray(r.flat_params, np.float32),
                                                 means]).view(np.uint32).tolist()
print(json.dumps(out))
"""


LAYOUTS = {1: (1,), 4: (1, 2), 6: (1, 2, 3)}  # device count: the hosts (outer sizes) tried


def _layouts_equal(runs):
  """{mode: params} after checking every layout of the mode gave the same bits."""
  got = {}
  for mode in MODES:
    one_device_params = np.array(runs[1][f"{mode}/1"], np.uint32)
    for devices in runs:
      for hosts in LAYOUTS[devices]:
        params = np.array(runs[devices][f"{mode}/{hosts}"], np.uint32)
        assert np.array_equal(params, one_device_params), (mode, devices, hosts)
    got[mode] = one_device_params.view(np.float32)
  return got


def _runs(dim, device_counts):
  gens = 3 if dim > 1000 else 5
  return run_all(_BLACK_BOX.format(dim=dim, modes=MODES, gens=gens, layouts=LAYOUTS),
                 device_counts, timeout=600)


@pytest.mark.parametrize("dim", [1000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_each_mode_is_bitwise_equal_on_1_device_1x4_and_2x2(dim):
  got = _layouts_equal(_runs(dim, (1, 4)))
  params = {mode: got[mode][:dim] for mode in MODES}  # then the mean returns
  assert np.abs(params["returns"]).max() > 0.01  # it moved
  assert np.array_equal(got["gradient"], got["hierarchical"])  # one tree, any placement
  # The tree and the chunk-after-chunk sum: the same update up to rounding.
  np.testing.assert_allclose(params["gradient"], params["returns"], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_axes_of_no_power_of_two_give_the_same_bits_1x6_2x3_3x2():
  # A power-of-two group of each axis splits the rebuild (4 of 6, 2 of 3), the rest receive.
  got = _layouts_equal(_runs(1000, (1, 6)))
  assert np.abs(got["gradient"][:1000]).max() > 0.01  # it moved
  assert np.array_equal(got["gradient"], got["hierarchical"])


@pytest.mark.slow
@pytest.mark.parametrize("comm, dim", [("gradient", 50), ("hierarchical", 50),
                                       *((comm, 100_000) for comm in MODES)])
def test_two_processes_x_two_devices_equal_one_process(tmp_path, comm, dim):
  # 2 processes, each in its own network namespace where they can be made: the mesh is 2 hosts
  # x 2 devices, the outer axis crossing gloo's TCP link between the two addresses.
  with network("hosts") as net:
    procs = job(net, lambda i: tmp_path / f"p{i}.npz", COMM=comm, DIM=dim)
    procs += [launch(net, None, tmp_path / f"single{n}.npz", n, COMM=comm, DIM=dim)
              for n in (1, 4)]
    all_succeed(procs, timeout=300)
  p0, p1, params_1, params_4 = (np.load(tmp_path / f)["params"]
                                for f in ("p0.npz", "p1.npz", "single1.npz", "single4.npz"))
  assert np.abs(params_1).max() > 0.01
  for params in (p0, p1, params_4):
    assert np.array_equal(params, params_1)


_DEFAULT = """
import json, jax, numpy as np, esjax
out = {}
for comm in ("gradient", "hierarchical"):
  for hosts in ((1, 2) if jax.device_count() == 4 else (1,)):
    cfg = esjax.TrainConfig().replace(generations=10, eval_every=0, comm=comm, hosts=hosts)
    r = esjax.train(cfg, progress=False)
    out[f"{comm}/{hosts}"] = np.asarray(r.flat_params).view(np.uint32).tolist()
print(json.dumps(out))
"""


@pytest.mark.long  # six 10-generation default runs in one process: beyond CI's time
@pytest.mark.timeout(3000)
def test_default_run_split_modes_are_bitwise_equal_on_1_device_1x4_and_2x2():
  runs = run_all(_DEFAULT, (1, 4), timeout=2400)
  one_device_params = runs[1]["gradient/1"]
  assert runs[1]["hierarchical/1"] == one_device_params
  for key in ("gradient/1", "gradient/2", "hierarchical/1", "hierarchical/2"):
    params = runs[4][key]
    assert params == one_device_params, key



@pytest.mark.long  # a 10-generation default run on two hosts and on one device, per mode
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("comm", MODES)
def test_default_run_on_two_hosts_x_two_devices_equals_one_device(tmp_path, comm):
  # ``esjax train`` as a user runs it on two machines (namespaced hosts where they can be
  # made), each process with its own --out: process 0's params file against one device's.
  flags = ["train", "--generations", "10", "--eval-every", "0", "--comm", comm, "--quiet"]

  def esjax_train(*more):
    return [sys.executable, "-m", "esjax", *flags, *more]

  with network("hosts") as net:
    coordinator = f"{net.address[0]}:{free_port()}"
    procs = [launch(net, i, None, 2, argv=esjax_train(
        "--out", str(tmp_path / f"host{i}"), "--coordinator", coordinator,
        "--num-processes", "2", "--process-id", str(i))) for i in range(2)]
    procs.append(launch(net, None, None, 1, argv=esjax_train("--out", str(tmp_path / "one"))))
    all_succeed(procs, timeout=3000)
  params_two_hosts, params_one = ((tmp_path / d / "params.msgpack").read_bytes()
                                  for d in ("host0", "one"))
  assert params_two_hosts == params_one
