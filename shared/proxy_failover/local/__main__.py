"""`python -m proxy_failover.local` (make run)."""

import sys

from .stack import main

sys.exit(main())
