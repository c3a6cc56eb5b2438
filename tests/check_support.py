"""``python3 -m chat.check`` as the tests run it: its real command line
with ``--json``, in the background (the runs of a module start together,
since they mostly wait), and what its report says.
"""

import json
import os
import subprocess
import sys
import time

from support import ROOT


class CheckRun:
    """``python3 -m chat.check ARGS`` in the background; ``env`` adds
    environment variables; ``result`` waits at most ``timeout`` seconds."""

    def __init__(self, args, timeout, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.timeout = timeout
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat.check", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self._result = None

    def result(self):
        """(exit status, report dict, stderr, wall seconds)."""
        if self._result is None:
            out, err = self.proc.communicate(timeout=self.timeout)
            assert out, "the checker printed nothing; stderr:\n%s" % err.decode()
            self._result = (self.proc.returncode, json.loads(out), err.decode(),
                            time.monotonic() - self.started)
        return self._result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def statuses(report):
    """{check: status} of a report."""
    return {r["check"]: r["status"] for r in report["results"]}
