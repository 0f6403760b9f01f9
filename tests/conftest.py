import os
import sys

# Tests see the package from this checkout even without an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Before any test can start JAX's CPU backend: esjax's import turns FMA off (esjax/xla_env.py),
# which the bitwise tests (test_invariance.py, test_pinned.py) depend on.
import esjax  # noqa: E402,F401
