"""Counters, gauges and histograms, rendered in Prometheus' text format.

Theory of operation
-------------------
A ``Registry`` holds metric families in the order they were made;
``render()`` writes them all in the text exposition format (version
0.0.4): ``# HELP`` and ``# TYPE`` lines, then one sample per label set.
Updating a metric is a dictionary update on the loop's thread, nothing
more: the hot paths count in bulk (a broadcast adds its number of
recipients once), and what is cheaper to read than to track (connections
by state, queued output, rooms) is a gauge whose ``collect`` function is
called only when someone scrapes. A counter bumped on every request can
be kept the same way: the owner adds to a plain number (no call at all)
and the counter's ``collect`` reads it at scrape time.

Names and label names are checked when a metric is made (a typo is our
bug, found at start-up); label values are escaped as the format asks, so
whatever a peer made us count cannot break the output. Nothing here knows
chat or sockets.
"""

import bisect
import math
import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

#: Buckets (seconds) for short durations: a loop pass, a commit, a round trip.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0)


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value != value:
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names, values, extra=()):
    pairs = [*zip(names, values), *extra]
    if not pairs:
        return ""
    return "{" + ",".join('%s="%s"' % (name, _escape(value)) for name, value in pairs) + "}"


class _Family:
    kind = None

    def __init__(self, name, help_text, labels=()):
        if not _NAME.match(name) or not all(_LABEL.match(label) for label in labels):
            raise ValueError("bad metric or label name: %s %s" % (name, labels))
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)

    def _check(self, values):
        if len(values) != len(self.labels):
            raise ValueError("%s takes labels %s" % (self.name, self.labels))

    def header(self, name=None):
        name = name or self.name
        return ["# HELP %s %s" % (name, self.help.replace("\\", "\\\\").replace("\n", "\\n")),
                "# TYPE %s %s" % (name, self.kind)]


class _Kept(_Family):
    """Values kept here, or read at scrape time by ``collect()`` (a number,
    or {label values tuple: number})."""

    def __init__(self, name, help_text, labels=(), collect=None):
        super().__init__(name, help_text, labels)
        self.collect = collect
        self.values = {} if labels else {(): 0}

    def current(self):
        """{label values tuple: number}, as of now."""
        if self.collect is None:
            return self.values
        got = self.collect()
        return got if isinstance(got, dict) else {(): got}


class Counter(_Kept):
    """A number that only goes up (``_total`` is added to its name): counted
    with ``inc``, or kept by its owner and read by ``collect()`` (a number,
    or {label values tuple: number}) when someone scrapes."""

    kind = "counter"

    def header(self, name=None):
        return super().header(self.name + "_total")   # the text format names the sample

    def inc(self, amount=1, *label_values):
        """A known key costs one dict update; the labels are checked when a
        key is new. (Counts made on every request are kept by their owner
        and read with ``collect`` instead.)"""
        values = self.values
        if label_values in values:
            values[label_values] += amount
        else:
            self._check(label_values)
            values[label_values] = amount

    def samples(self):
        return ["%s_total%s %s" % (self.name, _labels(self.labels, key), _number(value))
                for key, value in self.current().items()]


class Gauge(_Kept):
    """A number that goes up and down: set, or collected at scrape time by
    ``collect()`` (a number, or {label values tuple: number})."""

    kind = "gauge"

    def set(self, value, *label_values):
        self._check(label_values)
        self.values[label_values] = value

    def samples(self):
        return ["%s%s %s" % (self.name, _labels(self.labels, key), _number(value))
                for key, value in self.current().items()]


class Histogram(_Family):
    """Observations counted into cumulative buckets, with their sum."""

    kind = "histogram"

    def __init__(self, name, help_text, buckets=DURATION_BUCKETS):
        super().__init__(name, help_text)
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)   # the last: above every bound
        self.sum = 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def samples(self):
        lines, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts):
            running += count
            lines.append("%s_bucket%s %d" % (self.name, _labels((), (), [("le", _number(bound))]),
                                             running))
        lines.append("%s_sum %s" % (self.name, _number(self.sum)))
        lines.append("%s_count %d" % (self.name, running))
        return lines


class Registry:
    """The metric families of one process, rendered in the order made."""

    def __init__(self):
        self.families = {}

    def _add(self, family):
        if family.name in self.families:
            raise ValueError("metric %s made twice" % family.name)
        self.families[family.name] = family
        return family

    def counter(self, name, help_text, labels=(), collect=None):
        return self._add(Counter(name, help_text, labels, collect))

    def gauge(self, name, help_text, labels=(), collect=None):
        return self._add(Gauge(name, help_text, labels, collect))

    def histogram(self, name, help_text, buckets=DURATION_BUCKETS):
        return self._add(Histogram(name, help_text, buckets))

    def render(self):
        """Every family in the text format, as bytes ready to serve."""
        lines = []
        for family in self.families.values():
            lines += family.header()
            lines += family.samples()
        return ("\n".join(lines) + "\n").encode("utf-8")


#: The content type of ``Registry.render``'s output.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
