"""Where records go: one ``Sink`` protocol (``write(record)``, ``close()``) implemented by the
metrics file (``rundir``), TensorBoard, Weights & Biases, the progress bar and a callback."""
from esjax.sinks.base import Callback, Opener, Sink
from esjax.sinks.loggers import TensorBoard, WandbOptions
from esjax.sinks.progress import ProgressBar

__all__ = ["Callback", "Opener", "ProgressBar", "Sink", "TensorBoard", "WandbOptions"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
