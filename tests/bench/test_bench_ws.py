"""broadcast-1000-ws (issue 19): the load generator over WebSocket.

The frame reader counts ``~`` in payloads only, whatever the splits, where
a raw count would also count the ``0x7E`` of frame headers; and a tiny real
run of broadcast-1000 and broadcast-1000-ws against our server delivers
every message exactly once per client, with the ws/tcp ratio printed and
the baselines skipped.
"""

import json
import subprocess
import sys

import pytest

from bench.wsload import FrameReader, frames
from reactor import websocket
from support import ROOT


def _stream():
    """Server frames of every header size, ``~`` in payloads and headers."""
    payloads = [b'{"content": "~A1 hi"}',                      # 2-byte header
                b"~" + b"x" * 125,                              # 126 bytes: 0x81 0x7E 0x00 0x7E
                b"~B%d " % 7 + b"y" * (0x7E00 - 4),             # length 0x7E00: 0x7E 0x7E 0x00
                b"~" * 3 + b"z" * 70000]                        # 8-byte length
    data = b""
    for p in payloads:
        data += websocket.encode(websocket.TEXT, p)
    data += websocket.encode(websocket.PING, b"~~")            # control: not a delivery
    data += websocket.encode(websocket.TEXT, b"~last")
    return data, payloads + [b"~last"]


@pytest.mark.parametrize("chunk", [1, 3, 7, 125, 4096, 1 << 20])
def test_the_frame_reader_counts_tildes_in_payloads_only(chunk):
    data, payloads = _stream()
    expected = sum(p.count(b"~") for p in payloads)
    assert data.count(b"~") > expected + 3          # a raw count would be wrong
    reader, got, tildes = FrameReader(), [], 0
    for start in range(0, len(data), chunk):
        piece = bytearray(data[start:start + chunk])
        tildes += reader.feed(piece, len(piece), got)
    assert tildes == expected
    assert got == payloads
    assert reader.pending == b""


def test_requests_go_as_masked_frames_one_per_line():
    decoder = websocket.FrameDecoder()              # the server's: it requires masks
    events = decoder.feed(frames(b'{"request": "msg", "content": "~A1"}\n{"request": "names"}\n'))
    assert [e.text for e in events] == ['{"request": "msg", "content": "~A1"}',
                                        '{"request": "names"}']


@pytest.mark.slow
def test_bench_ws_smoke(tmp_path):
    cmd = [sys.executable, "-m", "bench", "--scenario", "broadcast-1000", "--scenario",
           "broadcast-1000-ws", "--runs", "1", "--duration", "0.3", "--warmup", "0.1",
           "--out", str(tmp_path), "--server", "ours", "--server", "asyncio"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "broadcast-1000-ws / broadcast-1000 (ours) deliveries/s: WebSocket" in proc.stdout
    with open(tmp_path / "latest.json") as f:
        scenarios = {s["name"]: s for s in json.load(f)["scenarios"]}
    ws = scenarios["broadcast-1000-ws"]["results"]
    assert ws["asyncio"]["status"] == "n/a"
    assert ws["ours"]["status"] == "ok", ws["ours"].get("error")
    for name in ("broadcast-1000", "broadcast-1000-ws"):
        median = scenarios[name]["results"]["ours"]["median"]
        assert median["deliveries_per_s"] > 0 and median["deliveries_per_cpu_s"] > 0
        assert median["latency_samples"] > 0
        assert 0 < median["p50_ms"] <= median["p99_ms"]
        # every client got every message once: none lost, no header counted
        assert median["min_received"] == median["max_received"] == median["sent"] > 0
        assert median["disconnected"] == 0
