"""A refactor may not change results silently: the default run's params are pinned.

The hashes are of float32 params produced on this project's CI machine kind (x86-64 CPU, one
XLA device) with the jax version below; XLA's float results are exact there run after run, so
any difference means the arithmetic changed. A deliberate change re-pins them in the same
commit and says why; on another jax version the test is skipped with that reason.

Re-pinned for issue 10 (bitwise layout invariance: members in chunks of 64, obs sums added in
member order, FMA off on CPU): the values hold on 1, 2 or 4 devices alike.

The final evaluation is checked to 0.5 %, not bit for bit: the evaluation episodes are a
separately compiled program (8 episodes in one batch), and on 2026-12-02 a machine of CI's kind
(AMD EPYC, same jax 0.10.2 and the same pinned params, training returns equal at every
generation) evaluated them to 1515.25 where the machine that pinned them gave 1517.40; the
params, which every later generation builds on, stay pinned exactly.

Re-pinned again for issue 10: the normalizer update (and OpenES's gradient scale) multiply by
a scalar reciprocal instead of dividing by a broadcast scalar, which XLA had rewritten in the
one-device program only; generation 2 on changed by the last bits, the final evaluation from
1749.68 to 1517.40 (still past 1000 at generation 20). Measured on CI's machine kind.
"""
import hashlib

import jax
import numpy as np
import pytest

import esjax

PINNED_JAX = "0.10.2"
# esjax train with every default (hopper, pop 256, 60 generations).
DEFAULT_RUN_SHA256 = "cfc2523c3579b8c87ce97792228accfacc552a7c0dffda8b3a708607e7e74b2e"
DEFAULT_RUN_EVAL = 1517.402099609375
# The same config cut to 3 generations, no evaluation.
SHORT_RUN_SHA256 = "f8f23c04093eeed4a119d4a9765abd6327e84aea3824ff719b130c358e5aee97"
SHORT_RUN_RETURNS = [143.8881378173828, 195.7060546875, 291.9484558105469]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(jax.__version__ != PINNED_JAX,
                       reason=f"params pinned with jax {PINNED_JAX}, this is {jax.__version__}"),
]


def _sha(result) -> str:
  return hashlib.sha256(np.asarray(result.flat_params, np.float32).tobytes()).hexdigest()


def test_short_default_run_is_pinned():
  result = esjax.train(esjax.TrainConfig().replace(generations=3, eval_every=0), progress=False)
  assert [m["pop_return_mean"] for m in result.metrics] == SHORT_RUN_RETURNS
  assert _sha(result) == SHORT_RUN_SHA256


def test_default_run_final_params_are_pinned():
  result = esjax.train(esjax.TrainConfig(), progress=False)
  assert _sha(result) == DEFAULT_RUN_SHA256
  assert result.metrics[-1]["eval_return"] == pytest.approx(DEFAULT_RUN_EVAL, rel=5e-3)
