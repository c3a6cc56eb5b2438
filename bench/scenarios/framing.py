"""Our JSON stream decoder alone, in-process: ``framing``.

Theory of operation
-------------------
No server and no sockets: typical chat requests (mostly ``msg``, seeded,
so every run feeds the same bytes) are fed to ``JsonStreamDecoder`` in
64 KiB pieces, newline-separated and back to back, for MB/s; then one big
object of 10 KB, 100 KB and 1 MB in 1 KB and 1 B pieces, for the cost per
KB, which must stay linear (1 MB at most 2x per KB of 10 KB).
"""

import json
import random
import time

from reactor.framing import JsonStreamDecoder

from ..loadgen import RunFailed
from .base import Metric

# -- framing (in-process) --------------------------------------------------------------

FRAMING_METRICS = [
    Metric("newline_mb_s", "typical requests, newline-separated (MB/s)", "rate", False),
    Metric("back_to_back_mb_s", "typical requests, back to back (MB/s)", "rate", False),
    Metric("back_to_back_vs_newline", "back to back / newline-separated speed", "ratio", False),
]
_SIZES = [("10KB", 10 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)]
_CHUNKS = [("1KB", 1024), ("1B", 1)]
for _chunk, _ in _CHUNKS:
    for _size, _ in _SIZES:
        FRAMING_METRICS.append(Metric("obj_%s_by_%s_us_per_kb" % (_size, _chunk),
                                      "one %s object in %s chunks (us per KB)" % (_size, _chunk),
                                      "us", True))
    FRAMING_METRICS.append(Metric("linear_%s" % _chunk,
                                  "%s chunks: 1 MB costs at most 2x per KB of 10 KB" % _chunk,
                                  "bool", None))


def _typical_requests(total_bytes, seed=4):
    """Encoded requests shaped like chat traffic: mostly msg, some others."""
    rng = random.Random(seed)
    words = ("hei hallo ok yes no maybe lunch meeting the a to of and in "
             "server client chat bench epoll \u00e6\u00f8\u00e5 \u2603").split()
    out, size = [], 0
    while size < total_bytes:
        roll = rng.random()
        if roll < 0.9:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
            payload = {"request": "msg", "content": text}
        elif roll < 0.95:
            payload = {"request": "names", "content": None}
        elif roll < 0.98:
            payload = {"request": "help", "content": None}
        else:
            payload = {"request": "login", "content": "user%d" % rng.randint(1, 10 ** 6)}
        data = json.dumps(payload).encode()
        out.append(data)
        size += len(data) + 1
    return out


def _feed_all(decoder_class, data, chunk, **options):
    """Seconds to feed ``data`` in ``chunk``-byte pieces; checks what came out."""
    decoder = decoder_class(**options)
    feed = decoder.feed
    values = 0
    start = time.perf_counter()
    for i in range(0, len(data), chunk):
        values += len(feed(data[i:i + chunk]))
    return time.perf_counter() - start, values


def framing(p):
    """Our JSON stream decoder alone: throughput, and cost of one big object."""
    requests = _typical_requests(p["traffic_bytes"])
    metrics = {}
    for key, joined in (("newline_mb_s", b"\n".join(requests) + b"\n"),
                        ("back_to_back_mb_s", b"".join(requests))):
        seconds, values = _feed_all(JsonStreamDecoder, joined, p["chunk"])
        if values != len(requests):
            raise RunFailed("framing: %d values decoded from %d requests" % (values, len(requests)))
        metrics[key] = len(joined) / seconds / 1e6
    metrics["back_to_back_vs_newline"] = metrics["back_to_back_mb_s"] / metrics["newline_mb_s"]
    for chunk_name, chunk in _CHUNKS:
        per_kb = {}
        for size_name, size in _SIZES:
            obj = json.dumps({"request": "msg", "content": "x" * (size - 32)}).encode()
            seconds, values = _feed_all(JsonStreamDecoder, obj, chunk, max_size=4 * size)
            if values != 1:
                raise RunFailed("framing: a %s object decoded to %d values" % (size_name, values))
            per_kb[size_name] = seconds * 1e6 / (len(obj) / 1024)
            metrics["obj_%s_by_%s_us_per_kb" % (size_name, chunk_name)] = per_kb[size_name]
        metrics["linear_%s" % chunk_name] = per_kb["1MB"] <= 2 * per_kb["10KB"]
    return metrics
