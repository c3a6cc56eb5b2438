"""Test-wide settings.

Under CI (the CI environment variable set, as .ci/run's runner does)
hypothesis runs derandomized: the same examples every run, so a landing is
never decided by a lucky draw. Local runs keep exploring new examples.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
