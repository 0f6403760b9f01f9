"""The one device mesh of a run, and moving state onto and off it.

One axis, ``AXIS``, spans every device of every process: the population is split along it
and the state is replicated over it.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from esjax.errors import ConfigError

AXIS = "devices"


def make_mesh(num_devices: int | None = None) -> Mesh:
  devices = jax.devices()
  if num_devices is not None:
    if num_devices > len(devices):
      raise ConfigError(f"num_devices={num_devices} but only {len(devices)} devices are visible")
    devices = devices[:num_devices]
  return Mesh(np.array(devices), (AXIS,))


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
