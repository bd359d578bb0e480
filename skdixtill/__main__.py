"""Run the command line with ``python -m skdixtill``."""

# License: BSD-3-Clause

import sys

from ._cli import main

sys.exit(main())
