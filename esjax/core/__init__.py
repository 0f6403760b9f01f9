"""The compiled generation and what it runs on: ``step`` (one ES generation, sharded over the
device mesh), ``mesh``, ``multihost`` (one mesh over every process) and ``hlo`` (what crosses
devices, read from the compiled program)."""
