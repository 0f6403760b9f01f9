"""User-facing errors. Kept free of imports so every layer (even plotting) can raise them."""
from __future__ import annotations


class ConfigError(ValueError):
  """A user-facing configuration mistake: the message names the value and what is accepted."""


class RunIOError(OSError):
  """A run's output could not be written (disk full, directory removed or read-only): the
  message is one line naming the path and the system's error. The checkpoints written before
  it are intact, so the run can be resumed once the cause is fixed. ``esjax train`` exits with
  ``EXIT_IO`` (74, sysexits' EX_IOERR) on it."""

  EXIT_IO = 74

  def __init__(self, path: str, error: BaseException, doing: str = "write"):
    code = getattr(error, "errno", None)
    text = str(error).strip()
    reason = (getattr(error, "strerror", None) or (text.splitlines()[0][:200] if text else "")
              or type(error).__name__)
    super().__init__(code, reason, path)
    self.path = path
    self.reason = reason
    self.doing = doing

  def __str__(self) -> str:
    return f"cannot {self.doing} {self.path!r}: {self.reason}"
