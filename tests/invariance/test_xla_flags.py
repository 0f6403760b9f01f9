"""The XLA CPU settings esjax's bits depend on (esjax/xla_env.py): FMA off and XLA's YNNPACK
dot fusions off, set on import unless the user named them or a backend already started."""

import jax
import jax.numpy as jnp
import pytest

from esjax import compat, xla_env
from tests.invariance.test_cpu_split import _run

_FLAGS = ("import json, os, esjax, jax, jax.numpy as jnp; "
          "f = jax.jit(lambda a, b: jnp.einsum('bij,bjk->bik', a, b)); "
          "hlo = f.lower(jnp.ones((128, 18, 18)), jnp.ones((128, 18, 3))).compile().as_text(); "
          "print(json.dumps(dict(flags=os.environ['XLA_FLAGS'], ynn=hlo.count('__ynn_fusion'))))")


def test_import_turns_fma_and_ynn_fusions_off():
  r = _run(_FLAGS)
  assert xla_env.NO_FMA_FLAG in r["flags"].split()
  assert xla_env.NO_YNN_FLAG in r["flags"].split()
  assert r["ynn"] == 0


def test_a_users_ynn_setting_is_kept():
  # A batched dot this size is a YNNPACK fusion by XLA's default: the flag is what removes it.
  r = _run(_FLAGS, XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=+dot")
  assert xla_env.NO_YNN_FLAG not in r["flags"].split()
  assert r["ynn"] >= 1


def test_esjax_cpu_ynn_keeps_xlas_default():
  r = _run(_FLAGS, ESJAX_CPU_YNN="1")
  assert "ynn_fusion_type" not in r["flags"] and r["ynn"] >= 1


def test_this_process_runs_without_ynn_fusions():
  f = jax.jit(lambda a, b: jnp.einsum("bij,bjk->bik", a, b))
  assert "__ynn_fusion" not in f.lower(jnp.ones((128, 18, 18)), jnp.ones((128, 18, 3))).compile().as_text()


@pytest.mark.parametrize("version,want,knows_the_flag", [
    ("0.10.2", (0, 10, 2), True), ("0.12.0.1", (0, 12, 0, 1), True),
    ("0.11.0rc1", (0, 11), True), ("0.10.0", (0, 10, 0), False), ("", (), False)])
def test_release_reads_the_leading_numbers(version, want, knows_the_flag):
  assert compat.release(version) == want
  assert (want >= xla_env.YNN_FLAG_SINCE) == knows_the_flag
