"""Verdicts and the report: what each check found, as text or JSON.

Theory of operation
-------------------
A check returns a ``Verdict``: whether the implementation did what the rule
asks (``ok`` True/False, or None for a plain observation), one line saying
what happened, and on failure what was sent, what came back and which rule
it breaks. The check's *group* decides what a bad verdict means:

* ``standard``, ``framing`` and ``safety``: **fail**. Any failure (or a
  check that could not run) makes the exit status 1.
* ``robustness`` and ``peer compatibility``: **warn**. Worth fixing, since
  other people's implementations trip over it, but not a conformance error.
* ``extensions`` and observations: **info**.

The report renders the results in run order, grouped, with colour only
when asked (a terminal), or as one JSON document for machines.
"""

import json

PASS = "pass"
FAIL = "fail"
WARN = "warn"
INFO = "info"
SKIP = "skip"      # could not run (the peer went away before it)

#: What a bad verdict means in each group, and the order groups are shown in.
GROUP_SEVERITY = {
    "standard": FAIL,
    "framing": FAIL,
    "safety": FAIL,
    "robustness": WARN,
    "peer compatibility": WARN,
    "extensions": INFO,
}

#: Group headings in the text report.
GROUP_TITLE = {
    "standard": "standard (PROTOCOL.md section 1; a failure means not conformant)",
    "framing": "framing (how bytes become payloads; a failure means not conformant)",
    "safety": "safety (terminal escape sequences; a failure means unsafe)",
    "robustness": "robustness (bad input: does it answer and survive? warnings)",
    "peer compatibility": "peer compatibility (what breaks other implementations; warnings)",
    "extensions": "extensions (PROTOCOL.md section 4; information)",
}

EXIT_OK = 0
EXIT_NOT_CONFORMANT = 1
EXIT_UNREACHABLE = 2


class Verdict:
    """What one check found. ``ok`` is True, False, or None (an observation)."""

    __slots__ = ("ok", "summary", "sent", "got", "rule")

    def __init__(self, ok, summary, sent=None, got=None, rule=None):
        self.ok = ok
        self.summary = summary
        self.sent = sent
        self.got = got
        self.rule = rule


def passed(summary):
    return Verdict(True, summary)


def failed(summary, sent=None, got=None, rule=None):
    return Verdict(False, summary, sent, got, rule)


def noted(summary):
    return Verdict(None, summary)


class Result:
    """A verdict placed in its group, with the status it earns there."""

    __slots__ = ("group", "title", "status", "verdict")

    def __init__(self, group, title, status, verdict):
        self.group = group
        self.title = title
        self.status = status
        self.verdict = verdict

    def as_dict(self):
        out = {"group": self.group, "check": self.title, "status": self.status,
               "summary": self.verdict.summary}
        for key in ("sent", "got", "rule"):
            value = getattr(self.verdict, key)
            if isinstance(value, bytes):   # raw wire bytes: readable, nothing lost
                value = value.decode("utf-8", "backslashreplace")
            if value is not None:
                out[key] = value
        return out


def status_for(group, verdict):
    if verdict.ok is None:
        return INFO
    if verdict.ok:
        return PASS
    return GROUP_SEVERITY[group]


class Report:
    """Results in the order the checks ran, plus what was checked."""

    def __init__(self, kind, target):
        self.kind = kind          # "server" or "client"
        self.target = target      # "host:port" or the client command line
        self.results = []
        self.fatal = None         # why the run could not start (exit 2)
        self.duration = 0.0
        self.facts = {}           # e.g. connections used

    def add(self, group, title, verdict):
        self.results.append(Result(group, title, status_for(group, verdict), verdict))

    def skip(self, group, title, reason):
        self.results.append(Result(group, title, SKIP, Verdict(False, reason)))

    def exit_status(self):
        if self.fatal is not None:
            return EXIT_UNREACHABLE
        for result in self.results:
            if GROUP_SEVERITY[result.group] == FAIL and result.status in (FAIL, SKIP):
                return EXIT_NOT_CONFORMANT
        return EXIT_OK

    def counts(self):
        counts = {PASS: 0, FAIL: 0, WARN: 0, INFO: 0, SKIP: 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def as_json(self):
        return json.dumps({
            "kind": self.kind, "target": self.target, "exit_status": self.exit_status(),
            "fatal": self.fatal, "duration_s": round(self.duration, 3), "facts": self.facts,
            "counts": self.counts(), "results": [r.as_dict() for r in self.results],
        }, indent=2)   # ASCII: nothing from the peer reaches a terminal raw

    def as_text(self, color=False):
        paint = _painter(color)
        lines = ["KTN conformance check of %s %s" % (self.kind, self.target)]
        if self.fatal is not None:
            lines.append(paint(FAIL, "could not check: ") + _safe(self.fatal))
            lines.append("exit status %d" % self.exit_status())
            return "\n".join(lines) + "\n"
        group = None
        order = list(GROUP_SEVERITY)
        for result in sorted(self.results, key=lambda r: order.index(r.group)):
            if result.group != group:
                group = result.group
                lines.append("")
                lines.append(GROUP_TITLE[group])
            lines.append("  %s  %s: %s" % (paint(result.status, result.status.upper().ljust(4)),
                                          result.title, _safe(result.verdict.summary)))
            for key in ("sent", "got", "rule"):
                value = getattr(result.verdict, key)
                if value is not None and result.status != PASS:
                    lines.append("        %-5s %s" % (key + ":", _one_line(value)))
        lines.append("")
        counts = self.counts()
        status = self.exit_status()
        conclusion = ("every standard check passed" if status == EXIT_OK
                      else "NOT conformant: fix the failures above")
        facts = ", ".join("%s %s" % (v, k) for k, v in self.facts.items())
        lines.append("%d passed, %d failed, %d warnings, %d info, %d not run in %.1f s%s"
                     % (counts[PASS], counts[FAIL], counts[WARN], counts[INFO], counts[SKIP],
                        self.duration, " (%s)" % facts if facts else ""))
        lines.append("%s (exit status %d)" % (conclusion, status))
        return "\n".join(lines) + "\n"


_COLORS = {PASS: "32", FAIL: "31;1", WARN: "33", INFO: "36", SKIP: "35"}


def _painter(color):
    if not color:
        return lambda _status, text: text
    return lambda status, text: "\x1b[%sm%s\x1b[0m" % (_COLORS[status], text)


def _one_line(value, limit=300):
    """What was sent or received, shown safely on one line (escapes visible)."""
    if isinstance(value, bytes):
        text = repr(value)[1:]
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=True)
    text = _safe(text)
    if len(text) > limit:
        text = text[:limit] + "... (%d characters)" % len(text)
    return text


def _safe(text):
    """``text`` with every control character escaped: what the peer sent
    (its names, its output) must not drive the terminal showing the report."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
