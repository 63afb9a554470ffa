"""``python -m openagi_nb`` does what the ``openagi-nb`` command does."""

import sys

from .cli import main

sys.exit(main())
