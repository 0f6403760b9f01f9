"""Sinks for the usual dashboards: TensorBoard and Weights & Biases.

``metrics.jsonl`` stays the source of truth (``esjax plot`` reads it); these sinks are views
of the same records. Both are given as options (``TensorBoard()``, ``WandbOptions(...)``) and
opened by the driver once the run directory is locked (``sinks/base.py``); TensorBoard's event
files go under ``DIR/tb/`` (tensorboardX is a dependency). W&B is optional: it is used only when asked
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

  def open(self, config: TrainConfig, run_dir: str | None) -> "WandbWriter | None":
    return None if run_dir is None else WandbWriter(self, run_dir, config)


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


@dataclasses.dataclass(frozen=True)
class TensorBoard:
  """The TensorBoard sink's options: event files under ``RUN_DIR/tb/`` (none without a run
  directory)."""

  def open(self, config: TrainConfig, run_dir: str | None) -> "TensorBoardWriter | None":
    return None if run_dir is None else TensorBoardWriter(run_dir, config)


class TensorBoardWriter:
  """Each record's scalars, by generation, in ``RUN_DIR/tb/``; a failed event-file write
  surfaces as ``RunIOError`` at the next record (``io_guard``)."""

  def __init__(self, run_dir: str, config: TrainConfig):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(os.path.join(run_dir, TB_DIR), flush_secs=10)
    self._tb_file = io_guard.guard(self._tb)
    # The resolved config as text, so a TensorBoard tab tells which run it is.
    self._tb.add_text("config", "```\n" + config.to_json() + "\n```", 0)

  def write(self, rec: dict[str, Any]) -> None:
    io_guard.check(self._tb_file)
    gen = int(rec["generation"])
    for tag, value in _scalars(rec):
      self._tb.add_scalar(tag, value, gen)
    if "eval_return" in rec and "env_steps" in rec:
      # The same evaluation against env steps: how ES papers compare sample efficiency.
      self._tb.add_scalar("eval_vs_env_steps/return", float(rec["eval_return"]),
                          int(rec["env_steps"]))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None
      if sys.exc_info()[0] is None:  # a run that otherwise ended well: say so
        io_guard.check(self._tb_file)


class WandbWriter:
  """Each record's scalars, by generation, to a Weights & Biases run."""

  def __init__(self, options: WandbOptions, run_dir: str, config: TrainConfig):
    check_wandb()
    import wandb as wandb_lib  # pylint: disable=g-import-not-at-top
    self._run = wandb_lib.init(project=options.project, name=options.name, dir=run_dir,
                               config=config.flat())

  def write(self, rec: dict[str, Any]) -> None:
    self._run.log(dict(_scalars(rec)), step=int(rec["generation"]))

  def close(self) -> None:
    if self._run is not None:
      self._run.finish()
      self._run = None
