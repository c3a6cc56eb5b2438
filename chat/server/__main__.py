"""``python3 -m chat.server``."""

import sys

from .app import main

sys.exit(main())
