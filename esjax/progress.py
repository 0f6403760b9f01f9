"""Progress display: a rich bar with ETA in a terminal, plain lines otherwise (logs, CI)."""
from __future__ import annotations

import sys
from typing import Any


def _line(rec: dict[str, Any]) -> str:
  parts = [f"gen {rec['generation']}", f"steps {rec['env_steps']:,}",
           f"return {rec['pop_return_mean']:.1f} (max {rec['pop_return_max']:.1f})",
           f"{rec['steps_per_s']:,.0f} steps/s"]
  if "eval_return" in rec:
    parts.append(f"eval {rec['eval_return']:.1f}")
  return " | ".join(parts)


class Progress:
  """``update(record)`` after each generation; ``close()`` at the end."""

  def __init__(self, total_generations: int, enabled: bool = True, stream=None):
    self._stream = stream or sys.stdout
    self._enabled = enabled
    self._bar = None
    if enabled and self._stream.isatty():
      from rich.progress import (BarColumn, Progress as RichProgress, TextColumn,
                                 TimeElapsedColumn, TimeRemainingColumn)
      self._bar = RichProgress(TextColumn("[bold]gen {task.completed}/{task.total}"), BarColumn(),
                               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                               TextColumn("{task.description}"), transient=False)
      self._task = self._bar.add_task("", total=total_generations)
      self._bar.start()

  def update(self, rec: dict[str, Any]) -> None:
    if not self._enabled:
      return
    if self._bar is not None:
      self._bar.update(self._task, completed=rec["generation"], description=_line(rec))
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
