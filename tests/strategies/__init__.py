"""Strategies: each against its paper (NumPy transcriptions, evosax), and one conformance suite."""
