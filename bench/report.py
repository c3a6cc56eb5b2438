"""Turning a finished run into a table, a JSON file and an SVG chart.

Everything here reads only the result dict that ``bench.__main__`` builds
(the same one saved as JSON), so a table or chart can be redrawn from any
saved ``bench/results/*.json``:

    python3 -c "import json,bench.report as r; print(r.table(json.load(open('bench/results/latest.json'))))"
"""

import json
import math
import os
import time
from xml.sax.saxutils import escape

PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]


# -- numbers ------------------------------------------------------------------------

def _num(v):
    """Three significant digits, k and M for big numbers, never e-notation."""
    a = abs(v)
    if a >= 1e6:
        return "%.3gM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 1e3:
        return "%.1fk" % (v / 1e3)
    if a >= 100 or v == int(v):
        return "%.0f" % v
    return "%.3g" % v


def fmt(value, kind):
    if value is None:
        return "-"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "int":
        return "{:,}".format(int(value))
    if kind == "share":
        return "%.0f%%" % (100 * value)
    if kind == "pct":
        return "%.1f%%" % value
    if kind == "ratio":
        return "%.2f" % value
    return _num(value)


# -- the table -------------------------------------------------------------------------

def _ratio(value, base, metric):
    """value / baseline, for speeds, times and sizes only (not counts, shares, flags)."""
    if (metric["lower_better"] is None or metric["fmt"] in ("bool", "int", "share", "pct")
            or value is None or not base):
        return ""
    return "%.2fx" % (value / base)


def _median(scenario, server, metric):
    """The server's median of ``metric`` in ``scenario``, or None."""
    entry = scenario["results"].get(server)
    return entry["median"].get(metric["key"]) if entry and entry["status"] == "ok" else None


def _cell(entry, metric, first_row):
    if entry is None:
        return "-"
    if entry["status"] != "ok":
        return entry["status"] if first_row else "-"
    text = fmt(entry["median"].get(metric["key"]), metric["fmt"])
    if entry.get("generator_bound") and metric["fmt"] == "rate":
        text += " *"
    if first_row and entry["runs_ok"] < entry["runs"]:
        text += " (%d/%d runs)" % (entry["runs_ok"], entry["runs"])
    return text


def _render(rows, right_from):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i >= right_from else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 1) + (":" if i >= right_from else "-")
                                        for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


#: The C server that shows the machine's limit (``bench/servers.py``).
CEILING = "ceiling"


def _ratio_pairs(servers, base):
    """(server, reference) pairs with a column each: every server against
    the baseline, and ours against the ceiling when it ran."""
    pairs = [(s, base) for s in servers if s != base and s != CEILING] if base in servers else []
    if CEILING in servers:
        pairs += [(s, CEILING) for s in servers if s.startswith("ours")]
    return pairs


def table(result):
    """The result as Markdown tables (aligned, so also readable on a terminal)."""
    servers = [s["name"] for s in result["servers"]]
    pairs = _ratio_pairs(servers, result.get("baseline"))
    rows = [["scenario", "metric"] + servers + ["%s/%s" % pair for pair in pairs]]
    in_process = [["scenario", "metric", "value"]]
    notes = []
    for sc in result["scenarios"]:
        for i, metric in enumerate(sc["metrics"]):
            name = sc["name"] if i == 0 else ""
            if sc["in_process"]:
                entry = sc["results"]["in-process"]
                in_process.append([name, metric["label"], _cell(entry, metric, i == 0)])
                continue
            entries = [sc["results"].get(s) for s in servers]
            row = [name, metric["label"]] + [_cell(e, metric, i == 0) for e in entries]
            for s, reference in pairs:
                row.append(_ratio(_median(sc, s, metric), _median(sc, reference, metric), metric))
            rows.append(row)
        for s, e in sc["results"].items():
            if e.get("generator_bound"):
                notes.append("* %s, %s: the load generator was near 100%% of its CPU in %d "
                             "run(s); the server may be faster than shown."
                             % (sc["name"], s, e["generator_bound_runs"]))
            if e["status"] != "ok" or e["runs_ok"] < e["runs"]:
                notes.append("%s, %s: %s" % (sc["name"], s, e.get("error") or e["status"]))
    parts = []
    if len(rows) > 1:
        parts.append(_render(rows, 2))
    if len(in_process) > 1:
        parts.append(_render(in_process, 2))
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts)


# -- files ----------------------------------------------------------------------------

def write(result, out_dir):
    """Save the JSON (timestamped and latest) and the chart; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(result["started_epoch"]))
    text = json.dumps(result, indent=1, sort_keys=False) + "\n"
    paths = [os.path.join(out_dir, "bench-%s.json" % stamp), os.path.join(out_dir, "latest.json")]
    for path in paths:
        with open(path, "w") as f:
            f.write(text)
    svg_path = os.path.join(out_dir, "latest.svg")
    with open(svg_path, "w") as f:
        f.write(svg(result))
    return paths + [svg_path]


# -- the chart ------------------------------------------------------------------------

def _nice_ceiling(v):
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * exp:
            return step * exp
    return 10 * exp


def _series(result, key):
    """{server: [(N, value)]} from the broadcast-N scenarios that succeeded."""
    out = {}
    for sc in result["scenarios"]:
        if not sc["name"].startswith("broadcast-"):
            continue
        n = sc["params"]["clients"]
        for server, e in sc["results"].items():
            if e["status"] == "ok" and e["median"].get(key) is not None:
                out.setdefault(server, []).append((n, e["median"][key]))
    return out


def _panel(x0, y0, w, h, title, series, ns, colors):
    parts = ['<text x="%g" y="%g" font-size="14" font-weight="bold">%s</text>'
             % (x0, y0 - 12, escape(title))]
    top = _nice_ceiling(max([v for pts in series.values() for _, v in pts] or [1]) * 1.05)
    for i in range(6):   # grid lines and y labels
        y = y0 + h - h * i / 5
        parts.append('<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>' % (x0, y, x0 + w, y))
        parts.append('<text x="%g" y="%.1f" font-size="11" text-anchor="end">%s</text>'
                     % (x0 - 6, y + 4, escape(_num(top * i / 5))))
    parts.append('<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>'
                 % (x0, y0, w, h))
    xs = {n: x0 + w * (i + 0.5) / len(ns) for i, n in enumerate(ns)}
    for n, x in xs.items():
        parts.append('<text x="%.1f" y="%g" font-size="11" text-anchor="middle">N=%d</text>'
                     % (x, y0 + h + 16, n))
    for server, pts in series.items():
        coords = [(xs[n], y0 + h - h * v / top) for n, v in sorted(pts)]
        color = colors[server]
        if len(coords) > 1:
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                         % (color, " ".join("%.1f,%.1f" % c for c in coords)))
        for x, y in coords:
            parts.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, color))
    return parts


def svg(result):
    """Deliveries/s and p99 latency by N for each server, as standalone SVG."""
    width, height = 960, 400
    servers = [s["name"] for s in result["servers"]]
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(servers)}
    deliveries = _series(result, "deliveries_per_s")
    p99 = _series(result, "p99_ms")
    ns = sorted({n for pts in list(deliveries.values()) + list(p99.values()) for n, _ in pts})
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" font-family="sans-serif">' % (width, height, width, height),
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="20" y="26" font-size="16" font-weight="bold">%s</text>'
             % escape("KTN chat servers, broadcast-N: medians of %d runs (%s suite, %s)"
                      % (result["options"]["runs"], result["suite"], result["started"][:10]))]
    for i, server in enumerate(servers):   # legend
        x = 20 + 150 * i
        parts.append('<rect x="%d" y="40" width="14" height="14" fill="%s"/>' % (x, colors[server]))
        parts.append('<text x="%d" y="52" font-size="13">%s</text>' % (x + 20, escape(server)))
    if not ns:
        parts.append('<text x="20" y="120" font-size="14">no broadcast scenario succeeded in this run</text>')
    else:
        parts += _panel(80, 100, 360, 250, "deliveries/s (higher is better)", deliveries, ns, colors)
        parts += _panel(560, 100, 360, 250, "p99 latency, ms (lower is better)", p99, ns, colors)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
