"""Layout invariance: the same config gives the same bits on any device count or process count."""
