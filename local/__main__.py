"""`python -m local` (make run)."""

import sys

from .stack import main

sys.exit(main())
