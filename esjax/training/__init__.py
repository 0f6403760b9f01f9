"""The drivers: ``train`` (an env or a custom problem) and ``minimize``/``maximize`` (a black
box)."""
