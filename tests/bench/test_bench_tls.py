"""The TLS scenarios (issue 18) run end to end on a tiny configuration:
the load generator speaks TLS to our server's TLS port (certificate made
by the harness with openssl), every receiver gets every message, and the
baselines, which speak no TLS, are skipped."""

import json
import shutil
import subprocess
import sys

import pytest

from support import ROOT

pytestmark = pytest.mark.slow   # benchmark runs


def test_bench_tls_smoke(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the harness makes its certificate with the openssl command")
    cmd = [sys.executable, "-m", "bench", "--scenario", "connect-1000-tls", "--scenario",
           "broadcast-1000-tls", "--runs", "1", "--duration", "0.3", "--warmup", "0.1",
           "--out", str(tmp_path), "--server", "ours", "--server", "asyncio"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "latest.json") as f:
        scenarios = {s["name"]: s for s in json.load(f)["scenarios"]}
    for name in ("connect-1000-tls", "broadcast-1000-tls"):
        assert scenarios[name]["results"]["asyncio"]["status"] == "n/a"
        entry = scenarios[name]["results"]["ours"]
        assert entry["status"] == "ok", entry.get("error")
    assert scenarios["connect-1000-tls"]["results"]["ours"]["median"]["logins_per_s"] > 0
    median = scenarios["broadcast-1000-tls"]["results"]["ours"]["median"]
    assert median["deliveries_per_s"] > 0 and median["all_received"] is True
