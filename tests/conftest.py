import os

# One CPU device unless a test asks for more (helpers/subproc.env_with_devices): esjax's default
# of one device per core (invariance/test_cpu_split.py tests it in its own processes) would make
# every in-process test's layout depend on the machine. Subprocesses inherit this too.
os.environ.setdefault("ESJAX_CPU_DEVICES", "1")

# Before any test can start JAX's CPU backend: esjax's import turns FMA off (esjax/xla_env.py),
# which the bitwise tests (invariance/test_bitwise.py, test_pinned.py) depend on.
import esjax  # noqa: E402,F401
