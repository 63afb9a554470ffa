"""``python -m openagi_nb.cli``: the same as ``openagi-nb``."""

import sys

from . import main

sys.exit(main())
