"""``python -m simulators`` is ``campus-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
