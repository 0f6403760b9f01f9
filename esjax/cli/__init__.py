"""The ``esjax`` command line."""
from esjax.cli.app import main

__all__ = ["main"]
