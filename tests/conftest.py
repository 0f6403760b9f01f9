import os
import sys

# Tests see the package from this checkout even without an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
