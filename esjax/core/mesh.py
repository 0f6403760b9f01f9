"""The one device mesh of a run, and moving state onto and off it.

The population axis spans every device of every process, split in two mesh axes by link:
``OUTER`` (hosts, or TPU slices: a slow link such as Ethernet or DCN) and ``INNER`` (the
devices of one host or slice: shared memory, NVLink, ICI). ``AXIS`` names both: the population
is split along it, member ids in row-major order (host 0's devices first), and the state is
replicated over it. Only the update's ``comm`` mode treats the two parts differently
(core/step.py).
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from esjax.errors import ConfigError

OUTER = "hosts"
INNER = "devices"
AXIS = (OUTER, INNER)


def make_mesh(num_devices: int | None = None, hosts: int | None = None) -> Mesh:
  """A (hosts, devices) mesh over the first ``num_devices`` devices (default every device).

  ``hosts`` is the outer size, default the processes owning those devices (one group per
  machine); it may be set on one process (4 forced CPU devices as 2 x 2) to try a multi-host
  layout on one host.
  """
  devices = jax.devices()
  if num_devices is not None:
    if num_devices > len(devices):
      raise ConfigError(f"num_devices={num_devices} but only {len(devices)} devices are visible")
    devices = devices[:num_devices]
  processes = len({d.process_index for d in devices})
  outer = hosts or (processes if len(devices) % processes == 0 else 1)
  if len(devices) % outer:
    raise ConfigError(f"hosts={outer} does not divide the {len(devices)} devices; use a "
                      f"divisor of {len(devices)}")
  return Mesh(np.array(devices).reshape(outer, len(devices) // outer), AXIS)


def layout(mesh: Mesh) -> tuple[int, int]:
  """``(outer, inner)``: hosts and devices per host of a run's mesh."""
  return mesh.shape[OUTER], mesh.shape[INNER]


def replicate(tree, mesh: Mesh):
  """Host values -> arrays replicated on every device of ``mesh`` (multi-process safe)."""
  sharding = NamedSharding(mesh, P())

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

  return jax.tree.map(put, tree)


def to_host(tree):
  """Replicated device arrays -> numpy, reading this process's own copy."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)
