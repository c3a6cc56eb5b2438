"""``python3 -m bench``: run the scenarios against every server, report.

Each scenario runs ``--runs`` times; within one repetition the servers take
turns (A B C, A B C, ...) so that noise on the machine hits them alike. A
server whose run fails or times out is not retried in that scenario. The
table goes to stdout, progress to stderr, files to ``--out``.
"""

import argparse
import datetime
import os
import platform
import sys
import time

from . import report, restart
from .suites import SCENARIO_NAMES, select
from .servers import (BASELINE, CEILING, DEFAULT_SERVERS, ROOT, build_ceiling, cpu_plan,
                      in_turn, parse_server, pin_self, raise_fd_limit)
from .stats import summarise

_T0 = time.monotonic()


def progress(text):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - _T0, text))
    sys.stderr.flush()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m bench",
        description="Benchmark KTN chat servers side by side (issue 4).",
        epilog="Scenarios: %s. Default servers: %s. A server command must accept "
               "--history-limit N (appended for history-10k), and --rate R --burst B "
               "(naive-room, which skips the baselines: they do not pace)."
               % (", ".join(SCENARIO_NAMES), ", ".join(DEFAULT_SERVERS)))
    p.add_argument("--suite", choices=["quick", "full"], default="quick",
                   help="quick: a few minutes; full: every scenario and size")
    p.add_argument("--server", action="append", default=[], metavar="NAME=CMD",
                   help="a server to measure, CMD with {host} {port} (and {python}); "
                        "or a default name alone; repeatable (default: all defaults)")
    p.add_argument("--scenario", action="append", default=[], metavar="NAME",
                   help="run only this scenario; repeatable")
    p.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of measured broadcast (default: quick 3, full 8)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of broadcast before measuring (default: quick 1, full 2)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"),
                   help="directory for the JSON results and the SVG chart")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    try:
        args.servers = [parse_server(s) for s in args.server] or list(DEFAULT_SERVERS.items())
        args.scenarios = select(args.suite, args.scenario, args.duration, args.warmup)
    except ValueError as exc:
        p.error(str(exc))
    if any("{ceiling}" in template for _, template in args.servers):
        why = build_ceiling()[1]
        if why is not None:   # no compiler here: the tables go without the ceiling
            progress("%s: not run: %s" % (CEILING, why))
            args.servers = [(n, t) for n, t in args.servers if "{ceiling}" not in t]
    names = [name for name, _ in args.servers]
    if len(set(names)) != len(names):
        p.error("server names must be unique")
    return args


def loadavg():
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine(server_cpu, gen_cpu, fd_limit):
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_model": model, "cpus": os.cpu_count(),
            "python": platform.python_version(), "executable": sys.executable,
            "server_cpu": server_cpu, "generator_cpu": gen_cpu, "fd_limit": fd_limit}


def summarise_runs(scenario, runs, requested):
    """One server's runs of one scenario: medians over the runs that worked."""
    ok = [r for r in runs if r["status"] == "ok"]
    plain = [{k: v for k, v in r.items() if k not in ("status", "error", "generator_bound")}
             for r in ok]
    errors = [r["error"] for r in runs if r.get("error")]
    bound = sum(1 for r in ok if r.get("generator_bound"))
    return {"status": "ok" if ok else runs[0]["status"], "runs": requested, "runs_ok": len(ok),
            "median": summarise(plain, scenario.aggregate) if ok else {},
            "generator_bound": bool(bound), "generator_bound_runs": bound,
            "error": errors[0] if errors else None, "all_runs": runs}


def _headline(scenario, run):
    if run["status"] != "ok":
        return "%s: %s" % (run["status"], run.get("error"))
    shown = [m for m in scenario.metrics[:5] if m.fmt != "bool"][:3]
    text = "  ".join("%s %s" % (m.label, report.fmt(run.get(m.key), m.fmt)) for m in shown)
    if run.get("gen_cpu") is not None:
        text += "  (generator CPU %s%s)" % (report.fmt(run["gen_cpu"], "share"),
                                           ", GENERATOR-BOUND" if run.get("generator_bound") else "")
    return text


def run_scenario(scenario, servers, runs, server_cpu):
    if scenario.in_process:
        results = []
        for rep in range(runs):
            results.append(scenario.run_once(None, None))
            progress("%s %d/%d: %s" % (scenario.name, rep + 1, runs, _headline(scenario, results[-1])))
        return {"in-process": summarise_runs(scenario, results, runs)}
    results = {name: [] for name, _ in servers}
    for name in results:
        if name in scenario.skip:
            results[name].append({"status": "n/a", "error": scenario.skip[name]})
            progress("%s %-9s %s" % (scenario.name, name, scenario.skip[name]))
    for rep in range(runs):
        for name, template in in_turn(servers, rep):
            if any(r["status"] != "ok" for r in results[name]):
                continue   # failed, timed out or not for this server: do not pay for it again
            started = time.monotonic()
            run = scenario.run_once(name, template, server_cpu)
            results[name].append(run)
            progress("%s %d/%d %-9s %5.1fs  %s" % (scenario.name, rep + 1, runs, name,
                                                 time.monotonic() - started,
                                                 _headline(scenario, run)))
    return {name: summarise_runs(scenario, rs, runs) for name, rs in results.items()}


def db_ratio(result, scenario="broadcast-1000"):
    """'with --db / without' for the broadcast deliveries (issue 10: >= 0.8)."""
    for sc in result["scenarios"]:
        if sc["name"] != scenario:
            continue
        values = [sc["results"].get(name) for name in ("ours", "ours-db")]
        if all(v and v["status"] == "ok" for v in values):
            plain, db = (v["median"].get("deliveries_per_s") for v in values)
            if plain and db:
                return ("%s deliveries/s: with --db %.0f, without %.0f: %.2fx"
                        % (scenario, db, plain, db / plain))
    return None


def ws_ratios(result, tcp="broadcast-1000", ws="broadcast-1000-ws"):
    """WebSocket / TCP broadcast deliveries, per server (issue 19: >= 0.5)."""
    scenarios = {sc["name"]: sc["results"] for sc in result["scenarios"]}
    lines = []
    for name, entry in scenarios.get(ws, {}).items():
        plain = scenarios.get(tcp, {}).get(name)
        if entry["status"] != "ok" or not plain or plain["status"] != "ok":
            continue
        a, b = entry["median"], plain["median"]
        if a.get("deliveries_per_s") and b.get("deliveries_per_s"):
            text = ("%s / %s (%s) deliveries/s: WebSocket %.0f, TCP %.0f: %.2fx (goal >= 0.5)"
                    % (ws, tcp, name, a["deliveries_per_s"], b["deliveries_per_s"],
                       a["deliveries_per_s"] / b["deliveries_per_s"]))
            if a.get("deliveries_per_cpu_s") and b.get("deliveries_per_cpu_s"):
                text += "; per server CPU-second %.2fx" % (
                    a["deliveries_per_cpu_s"] / b["deliveries_per_cpu_s"])
            lines.append(text)
    return lines


def cluster_ratios(result):
    """'1 node with --redis / without' per cluster-N scenario (issue 13: >= 0.6)."""
    lines = []
    for sc in result["scenarios"]:
        if not sc["name"].startswith("cluster-"):
            continue
        for name, entry in sc["results"].items():
            median = entry["median"] if entry["status"] == "ok" else {}
            if median.get("redis_vs_single") is not None:
                lines.append("%s (%s) deliveries/s: 1 node %.0f, with --redis %.0f: %.2fx; "
                             "2 nodes %.0f: %.2fx"
                             % (sc["name"], name, median["single_deliveries_per_s"],
                                median["redis_deliveries_per_s"], median["redis_vs_single"],
                                median["cluster2_deliveries_per_s"],
                                median["cluster2_vs_single"]))
            if median.get("cluster2_cpu_vs_single") is not None:
                lines.append("%s (%s) deliveries per server CPU-second: 1 node %.0f, with "
                             "--redis %.0f: %.2fx; 2 nodes (CPU summed) %.0f: %.2fx"
                             % (sc["name"], name, median["single_deliveries_per_cpu_s"],
                                median["redis_deliveries_per_cpu_s"],
                                median["redis_cpu_vs_single"],
                                median["cluster2_deliveries_per_cpu_s"],
                                median["cluster2_cpu_vs_single"]))
    return lines


def main(argv=None):
    args = parse_args(argv)
    fd_limit = raise_fd_limit()
    server_cpu, gen_cpu = cpu_plan()
    pin_self(gen_cpu)
    if server_cpu is None:
        progress("no taskset or fewer than 2 CPUs: server and generator share the CPUs")
    else:
        progress("server on CPU %d, load generator on CPU %d" % (server_cpu, gen_cpu))
    load = loadavg()
    if load is not None and load > 1.0:
        progress("warning: load average %.1f before starting; other processes will skew "
                 "the figures" % load)
    started = datetime.datetime.now().astimezone()
    result = {
        "suite": args.suite,
        "selected": args.scenario or None,
        "started": started.isoformat(timespec="seconds"),
        "started_epoch": started.timestamp(),
        "machine": machine(server_cpu, gen_cpu, fd_limit),
        "loadavg_start": load,
        "options": {"runs": args.runs, "duration": args.duration, "warmup": args.warmup},
        "servers": [{"name": n, "command": c} for n, c in args.servers],
        "baseline": BASELINE,
        "scenarios": [],
    }
    for scenario in args.scenarios:
        progress("== %s %s" % (scenario.name, scenario.params))
        results = run_scenario(scenario, args.servers, args.runs, server_cpu)
        result["scenarios"].append({
            "name": scenario.name, "in_process": scenario.in_process, "params": scenario.params,
            "metrics": [m._asdict() for m in scenario.metrics], "results": results})
    result["loadavg_end"] = loadavg()
    result["elapsed_s"] = round(time.monotonic() - _T0, 1)
    result["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(report.table(result))
    ratio = db_ratio(result)
    if ratio:
        print(ratio)
    for line in ws_ratios(result) + cluster_ratios(result):
        print(line)
    restart.remove_databases()
    for path in report.write(result, args.out):
        progress("wrote %s" % os.path.relpath(path))
    progress("done in %.0f s" % result["elapsed_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
