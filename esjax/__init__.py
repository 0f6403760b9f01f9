"""esjax: Evolution Strategies (Salimans et al. 2017) as one jit-compiled, sharded JAX step."""
from esjax import distributed, hlo
from esjax.config import TrainConfig
from esjax.distributed import DistributedConfig
from esjax.envs import ConfigError
from esjax.logging_sinks import WandbOptions
from esjax.normalizer import NormalizerState, ObsStats
from esjax.playback import evaluate_run, render_run
from esjax.plot import plot_runs
from esjax.policies import MLP, Linear, Policy, make_policy
from esjax.presets import PRESETS, Preset
from esjax.rollout import Evaluation, Problem, black_box, brax_problem
from esjax.run_io import SavedRun, load
from esjax.shaping import centered_rank, identity, z_score
from esjax.step import GenMetrics, TrainState
from esjax.strategy import ESState, OpenES, open_es
from esjax.train import TrainResult, setup, train

__all__ = [
    "TrainConfig", "ConfigError", "NormalizerState", "ObsStats", "MLP", "Linear", "Policy",
    "make_policy", "Evaluation", "Problem", "black_box", "brax_problem", "SavedRun", "load",
    "centered_rank", "identity", "z_score", "GenMetrics", "TrainState", "ESState", "OpenES",
    "open_es", "TrainResult", "setup", "train", "WandbOptions", "evaluate_run", "render_run",
    "plot_runs", "PRESETS", "Preset", "DistributedConfig", "distributed", "hlo",
]
__version__ = "0.1.0"
