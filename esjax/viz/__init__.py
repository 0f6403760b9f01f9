"""Looking at runs: learning curves, evaluation and rendering of a trained policy."""
