import sys

from esjax.cli import main

sys.exit(main())
