"""Progress display: a rich bar with ETA in a terminal, plain lines otherwise (logs, CI).

In a terminal the bar, elapsed time and ETA have fixed widths and only the metrics text is
cut to fit, so an 80-column window still shows the bar; the last evaluation stays on it
until the next one. With an env-step budget (``esjax train --env-steps``) the bar counts
env steps, since the generation count is then open-ended.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

from esjax.config.train_config import TrainConfig


def _line(rec: dict[str, Any]) -> str:
  parts = [f"gen {rec['generation']}", f"steps {rec['env_steps']:,}",
           f"return {rec['pop_return_mean']:.1f} (max {rec['pop_return_max']:.1f})",
           f"{rec['steps_per_s']:,.0f} steps/s"]
  if "eval_return" in rec:
    parts.append(f"eval {rec['eval_return']:.1f}")
  return " | ".join(parts)


def _short(rec: dict[str, Any], last_eval: float | None) -> str:
  # Most telling first: what gets cut in a narrow window is the end.
  parts = [f"eval {last_eval:.1f}"] if last_eval is not None else []
  parts += [f"ret {rec['pop_return_mean']:.1f} (max {rec['pop_return_max']:.1f})",
            f"{rec['steps_per_s']:,.0f} st/s"]
  return " | ".join(parts)


@dataclasses.dataclass(frozen=True)
class ProgressBar:
  """The progress sink's options: a bar (or plain lines) on stdout, on process 0. With it the
  driver also prints the preflight block and a sweep's best point."""

  def open(self, config: TrainConfig, run_dir: str | None) -> "Progress":
    del run_dir
    return Progress(config.runtime.generations, total_env_steps=config.runtime.env_steps)


class Progress:
  """``write(record)`` after each generation; ``close()`` at the end."""

  def __init__(self, total_generations: int | None, enabled: bool = True, stream=None,
               total_env_steps: int | None = None):
    self._stream = stream or sys.stdout
    self._enabled = enabled
    self._bar = None
    self._by_steps = total_env_steps is not None
    self._last_eval = None
    if enabled and self._stream.isatty():
      from rich.console import Console  # pylint: disable=g-import-not-at-top
      from rich.progress import (BarColumn, Progress as RichProgress, TextColumn,
                                 TimeElapsedColumn, TimeRemainingColumn)
      from rich.table import Column  # pylint: disable=g-import-not-at-top
      if self._by_steps:
        head = TextColumn("[bold]{task.completed:,.0f}/{task.total:,.0f} steps")
        total = total_env_steps
      else:
        head = TextColumn("[bold]gen {task.completed}/{task.total}")
        total = total_generations
      fixed = dict(no_wrap=True)
      self._bar = RichProgress(
          head, BarColumn(bar_width=20), TimeElapsedColumn(table_column=Column(**fixed)),
          TextColumn("eta", table_column=Column(**fixed)),
          TimeRemainingColumn(table_column=Column(**fixed)),
          # Only this column gives way when the window is narrow.
          TextColumn("{task.description}",
                     table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
          console=Console(file=self._stream), expand=True, transient=False)
      self._task = self._bar.add_task("", total=total)
      self._bar.start()

  def write(self, rec: dict[str, Any]) -> None:
    if not self._enabled:
      return
    if "eval_return" in rec:
      self._last_eval = rec["eval_return"]
    if self._bar is not None:
      done = rec["env_steps"] if self._by_steps else rec["generation"]
      self._bar.update(self._task, completed=done, description=_short(rec, self._last_eval))
    else:
      print(_line(rec), file=self._stream, flush=True)

  def log(self, msg: str) -> None:
    if not self._enabled:
      return
    if self._bar is not None:
      self._bar.console.print(msg)
    else:
      print(msg, file=self._stream, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.stop()
