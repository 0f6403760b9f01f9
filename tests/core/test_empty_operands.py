"""Issue 23: jaxlib 0.11.2's XLA CPU compile segfaulted on a split CPU whenever a zero-element
array was an operand of the step's shard_map (benchmarks/jax_cpu_crash_repro.py). The step
keeps every empty array (argument, result, captured constant) out of its shard_map; these
tests check that on any jaxlib, where the crash itself cannot be seen."""
from tests.helpers.subproc import run_all

_CODE = """
import json, re
import jax, jax.numpy as jnp, numpy as np, esjax
from esjax.core.step import shard_generation
from esjax.core.mesh import AXIS, make_mesh

def empty_operands(text):
  # the types of the manual computations' block arguments: its operands inside
  out = []
  for line in text.splitlines():
    if "sdy.manual_computation(" in line:
      decl = line[line.index("manual_axes="):]
      out += [t for t in re.findall(r"%arg\\d+: tensor<([^>]*)>", decl)
              if "0" in t.split("x")[:-1]]
  return out

# A black-box run: (0,) normalizer state and obs sums, and 2 member chunks per device.
problem = esjax.black_box(lambda p, k: -jnp.sum((p - 0.5) ** 2) + 0.01 * jax.random.normal(k))
cfg = esjax.TrainConfig.of(population_size=16, generations=2, eval_every=0,
                           normalize_obs=False, sigma=0.1, member_chunk=2, num_devices=2)
s = esjax.setup(cfg, problem=problem, initial_params=jnp.zeros(6))
step_empty = empty_operands(s.run_generations.lower(s.state, 1).as_text())
r = esjax.train(cfg, problem=problem, initial_params=jnp.zeros(6), progress=False)

# Brax hopper in lanes (lowered, not compiled): its System holds zero-row arrays, and the
# lanes jit the episode's functions, whose captured constants must stay inside the step too.
hopper = esjax.setup(esjax.TrainConfig.of(env="hopper", population_size=8, eval_every=0,
                                          episode_length=10, lanes=None, lane_narrowings=1,
                                          num_devices=2))
lanes_empty = empty_operands(hopper.run_generations.lower(hopper.state, 1).as_text())

# A body that captures an empty jax.Array, takes and returns empty arrays, and uses the axis.
EMPTY = jnp.zeros((0, 3))
def body(st):
  x, e = st
  g = jax.lax.all_gather(x * jax.lax.axis_index(AXIS), AXIS, tiled=True)
  return (g + EMPTY.sum(), e), jnp.zeros((2, 0), jnp.int32)
f = jax.jit(shard_generation(body, make_mesh(2)))
arg = (jnp.ones(2), jnp.zeros((0,), jnp.int32))
(g, e), z = f(arg)
print(json.dumps(dict(step_empty=step_empty, lanes_empty=lanes_empty,
                      moved=float(jnp.abs(r.flat_params).max()),
                      body_empty=empty_operands(f.lower(arg).as_text()), g=g.tolist(),
                      shapes=[list(e.shape), str(e.dtype), list(z.shape), str(z.dtype)])))
"""


def test_no_empty_array_is_a_shard_map_operand():
  r = run_all(_CODE, (2,), timeout=300)[2]
  assert r["step_empty"] == [] and r["body_empty"] == [] and r["lanes_empty"] == []
  assert r["moved"] > 0.01  # it ran (on jaxlib 0.11.2 it segfaulted here)
  assert r["g"] == [0.0, 0.0, 1.0, 1.0]
  assert r["shapes"] == [[0], "int32", [2, 0], "int32"]
