"""The one thing every output of a run is: a ``Sink`` of metrics records.

``train(config, out_dir, sinks=[...])`` writes each generation's record to every sink, in order,
and closes them all at the end (also after an error). A sink is

* an object with ``write(record)`` and ``close()`` (``Sink``), used as given, on every process;
* a plain callable of the record (a user's callback), on every process;
* or the options of a sink that lives in the run directory or on the terminal
  (``TensorBoard()``, ``WandbOptions(...)``, ``ProgressBar()``): an ``Opener``, which the driver
  opens on process 0 once the run directory is locked and the config resolved, so nothing is
  written before the config is known to be valid.

The run's own ``metrics.jsonl`` is written first, by the run directory, whatever the list says.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

from esjax.config.train_config import TrainConfig

Record = dict[str, Any]


@runtime_checkable
class Sink(Protocol):
  def write(self, record: Record) -> None: ...

  def close(self) -> None: ...


@runtime_checkable
class Opener(Protocol):
  """A sink's options: ``open`` returns the sink, or None where it has nothing to write to
  (a directory sink of a run without ``out_dir``)."""

  def open(self, config: TrainConfig, run_dir: str | None) -> Sink | None: ...


class Callback:
  """A plain callable as a sink."""

  def __init__(self, fn: Callable[[Record], Any]):
    self._fn = fn

  def write(self, record: Record) -> None:
    self._fn(record)

  def close(self) -> None:
    pass


def open_all(sinks: Sequence[Any], config: TrainConfig, run_dir: str | None,
             is_main: bool) -> list[Sink]:
  """``sinks`` as written to: openers opened (on process 0 only), callables wrapped."""
  opened = []
  for sink in sinks:
    if isinstance(sink, Opener):
      sink = sink.open(config, run_dir) if is_main else None
    elif not isinstance(sink, Sink) and callable(sink):
      sink = Callback(sink)
    elif not isinstance(sink, Sink):
      raise TypeError(f"sinks: {sink!r} is not a sink; expected an object with write(record) "
                      "and close(), a callable of the record, or a sink's options such as "
                      "esjax.sinks.TensorBoard()")
    if sink is not None:
      opened.append(sink)
  return opened


@contextlib.contextmanager
def closing(sinks: Sequence[Sink]) -> Iterator[list[Sink]]:
  """Closes every sink on the way out, in order, however the run ends."""
  try:
    yield list(sinks)
  finally:
    for sink in sinks:
      sink.close()
