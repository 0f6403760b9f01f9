"""Where per-generation records go besides ``metrics.jsonl``: TensorBoard and Weights & Biases.

``metrics.jsonl`` stays the source of truth (``esjax plot`` reads it); these sinks are views
of the same records for the usual dashboards. TensorBoard event files are always written
under ``DIR/tb/`` (tensorboardX is a dependency). W&B is optional: it is used only when asked
for and importable, and asking for it without it installed is a one-line ``ConfigError``
raised before any run directory exists.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from typing import Any

from esjax.config.train_config import TrainConfig
from esjax.errors import ConfigError
from esjax.rundir import io_guard

TB_DIR = "tb"
# Record keys that are bookkeeping, not curves.
_NOT_SCALARS = ("generation",)


@dataclasses.dataclass(frozen=True)
class WandbOptions:
  """``esjax train --wandb [--wandb-project P] [--wandb-name N]``."""
  project: str = "esjax"
  name: str | None = None


def wandb_available() -> bool:
  # find_spec only looks: importing wandb costs seconds and starts nothing until init().
  return "wandb" in sys.modules or importlib.util.find_spec("wandb") is not None


def check_wandb() -> None:
  """Raises ConfigError unless ``wandb`` can be imported (checked before any output)."""
  if not wandb_available():
    raise ConfigError("--wandb needs the 'wandb' package, which is not installed; "
                      "run `pip install wandb` or drop --wandb")


def _scalars(rec: dict[str, Any]):
  """(tag, value) pairs for every finite-or-not numeric field; per-seed lists are split."""
  for name, value in rec.items():
    if name in _NOT_SCALARS or isinstance(value, bool):
      continue
    group = "eval" if name.startswith("eval_") else "train"
    if isinstance(value, (int, float)):
      yield f"{group}/{name}", float(value)
    elif isinstance(value, list) and name.endswith("_per_seed"):
      for s, v in enumerate(value):
        if v is not None:  # None: the seed stopped at its env-step budget
          yield f"{group}/{name[:-len('_per_seed')]}/seed{s}", float(v)


class Sinks:
  """``write(record)`` once per generation, ``close()`` at the end (also after an error)."""

  def __init__(self, run_dir: str, config: TrainConfig, wandb: WandbOptions | None = None,
               tensorboard: bool = True):
    self._tb = None
    self._tb_file = None  # io_guard: a failed event-file write surfaces as RunIOError
    self._wandb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(run_dir, TB_DIR), flush_secs=10)
      self._tb_file = io_guard.guard(self._tb)
      # The resolved config as text, so a TensorBoard tab tells which run it is.
      self._tb.add_text("config", "```\n" + config.to_json() + "\n```", 0)
    if wandb is not None:
      check_wandb()
      import wandb as wandb_lib  # pylint: disable=g-import-not-at-top
      self._wandb = wandb_lib.init(project=wandb.project, name=wandb.name, dir=run_dir,
                                   config=config.flat())

  def write(self, rec: dict[str, Any]) -> None:
    io_guard.check(self._tb_file)
    scalars = dict(_scalars(rec))
    gen = int(rec["generation"])
    if self._tb is not None:
      for tag, value in scalars.items():
        self._tb.add_scalar(tag, value, gen)
      if "eval_return" in rec and "env_steps" in rec:
        # The same evaluation against env steps: how ES papers compare sample efficiency.
        self._tb.add_scalar("eval_vs_env_steps/return", float(rec["eval_return"]),
                            int(rec["env_steps"]))
    if self._wandb is not None:
      self._wandb.log(scalars, step=gen)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None
      if sys.exc_info()[0] is None:  # a run that otherwise ended well: say so
        io_guard.check(self._tb_file)
    if self._wandb is not None:
      self._wandb.finish()
      self._wandb = None
