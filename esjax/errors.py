"""User-facing errors. Kept free of imports so every layer (even plotting) can raise them."""
from __future__ import annotations


class ConfigError(ValueError):
  """A user-facing configuration mistake: the message names the value and what is accepted."""
