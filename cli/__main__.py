"""``python -m spine_rt.cli``."""

import sys

from spine_rt.cli.main import main

sys.exit(main())
