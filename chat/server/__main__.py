"""``python3 -m chat.server``."""

import sys

from .cli import main

sys.exit(main())
