"""What surrounds a run: logs and plots, playback, notebooks, the claims and the benchmarks."""
