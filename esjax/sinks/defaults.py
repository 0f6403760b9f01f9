"""Which sinks a run writes to when ``train`` is not given a list: TensorBoard (with a run
directory) and the progress bar, adjusted by train()'s shorthand keywords (``progress``,
``tensorboard``, ``wandb``, ``on_record``): a common change without listing every sink."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from esjax.errors import ConfigError
from esjax.sinks import loggers
from esjax.sinks.progress import ProgressBar

_KEYWORDS = ("progress", "tensorboard", "wandb", "on_record")


def resolve(sinks: Sequence[Any] | None, keywords: dict[str, Any],
            out_dir: str | None = None) -> list[Any]:
  """The sinks of a run: ``sinks`` as given, or the defaults that ``keywords`` adjust; W&B is
  checked here, before anything is built or written. A dashboard asked for by name needs the
  run directory it writes under: without ``out_dir`` it is an error, not a silent no-op (the
  default TensorBoard just stays off)."""
  unknown = sorted(set(keywords) - set(_KEYWORDS))
  if unknown:
    raise TypeError(f"train() got an unexpected keyword argument {unknown[0]!r}")
  if sinks is not None and keywords:
    raise TypeError(f"train(): give sinks=[...] or the keywords {', '.join(sorted(keywords))}, "
                    "not both (sinks=[...] lists every output; see esjax.sinks)")
  chosen = list(sinks) if sinks is not None else defaults(**keywords)
  asked = [s for s in (sinks or [keywords.get("wandb")])
           if isinstance(s, (loggers.TensorBoard, loggers.WandbOptions))]
  if out_dir is None and asked:
    raise ConfigError(f"{type(asked[0]).__name__} writes under the run directory, and this "
                      "run has none; give train() an out_dir or drop that sink")
  if any(isinstance(s, loggers.WandbOptions) for s in chosen):
    loggers.check_wandb()
  return chosen


def defaults(progress: bool = True, tensorboard: bool = True,
             wandb: loggers.WandbOptions | None = None,
             on_record: Callable[[dict[str, Any]], None] | None = None) -> list[Any]:
  """In the order records reach them: dashboards, the user's callback, then the terminal."""
  chosen: list[Any] = [loggers.TensorBoard()] if tensorboard else []
  chosen += [wandb] if wandb is not None else []
  chosen += [on_record] if on_record is not None else []
  return chosen + ([ProgressBar()] if progress else [])


def shows_progress(sinks: Sequence[Any]) -> bool:
  """Whether the run talks on the terminal (preflight block, bar, best sweep point)."""
  return any(isinstance(s, ProgressBar) for s in sinks)
