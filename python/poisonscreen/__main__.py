"""``python -m poisonscreen``: the command line (:mod:`poisonscreen.cli`)."""

import sys

from .cli import main

sys.exit(main())
