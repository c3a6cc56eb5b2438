"""Test-wide settings.

The tests mirror the code: one folder per package (reactor/, core/, store/,
server/ with server/cluster/, client/ with client/fullscreen/, check/,
bench/), every test file's name unique across them. What several folders
share lives here, in tests/: the support modules (``support``,
``core_support``, ``redis_support``...) and ``peers/``, the other
implementations used as peers. This folder and the repository root go on
sys.path first, so a test in any folder imports them by name, whatever
pytest's import mode.

Under CI (the CI environment variable set, as .ci/run's runner does)
hypothesis runs derandomized: the same examples every run, so a landing is
never decided by a lucky draw. Local runs keep exploring new examples.

Tests that start processes (servers, clients, Redis, the checker) are
marked ``slow``: ``pytest -m "not slow"`` is the quick loop.
"""

import os
import sys

from hypothesis import settings

TESTS = os.path.dirname(os.path.abspath(__file__))
for folder in (os.path.dirname(TESTS), TESTS):
    if folder not in sys.path:
        sys.path.insert(0, folder)

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
