"""A flax policy applied to a member's low-rank params without forming its weight matrices.

``apply(module, params, obs)`` runs the module on the *mean's* kernels (every other leaf
perturbed as usual, ``LowRankParams.tree``) and adds, after each ``nn.Dense``, the member's
correction ``sigma / sqrt(r) * (x A) B^T`` (``nn.intercept_methods``). Vmapped over members,
the mean's ``x W`` is one matmul over the whole chunk's rows (XLA sees an unbatched ``W``);
only the O((m + n) r) correction is per member.

Every 2-D leaf of the params must be the kernel of an ``nn.Dense`` (as in esjax's MLP, linear
and CNN policies, whose conv kernels are 4-D and so get full-rank noise): a 2-D leaf no Dense
consumed raises at trace time rather than silently running unperturbed.
"""
from __future__ import annotations

import flax.linen as nn
import jax

from esjax.errors import ConfigError
from esjax.perturbations.lowrank import LowRankParams


def apply(module: nn.Module, params: LowRankParams, obs: jax.Array) -> jax.Array:
  layout = params.layout
  used = set()

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
      index = layout.kernel_index(("params",) + tuple(context.module.path) + ("kernel",))
      if index is not None:
        used.add(index)
        out = out + params.correction(index, args[0]).astype(out.dtype)
    return out

  with nn.intercept_methods(interceptor):
    out = module.apply(params.tree(), obs)
  missing = [l.path for i, l in enumerate(layout.kernels) if i not in used]
  if missing:
    raise ConfigError(f"low-rank perturbation: the 2-D params {missing} are not nn.Dense "
                      "kernels, so the forward pass cannot add their low-rank term; use "
                      "--perturbation full for this policy")
  return out
