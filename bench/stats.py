"""Percentiles of one run, and the summary of several runs."""

import statistics


def percentiles(samples, points=(0.5, 0.9, 0.99)):
    """Nearest-rank percentiles of ``samples`` (unsorted), plus the maximum."""
    if not samples:
        return [None] * len(points), None
    ordered = sorted(samples)
    last = len(ordered) - 1
    return [ordered[min(last, int(p * len(ordered)))] for p in points], ordered[-1]


def summarise(runs, how):
    """Combine the metric dicts of the successful runs.

    ``how`` maps a metric to "median" (the default), "min", "max" or "all"
    (booleans: true only if true in every run). Loss and safety figures use
    the worst run; speeds use the median, which one noisy run cannot move.
    """
    keys = []
    for run in runs:
        keys += [k for k in run if k not in keys]
    out = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        if not values:
            out[key] = None
            continue
        rule = how.get(key, "median")
        if rule == "all" or isinstance(values[0], bool):
            out[key] = all(values)
        elif rule == "min":
            out[key] = min(values)
        elif rule == "max":
            out[key] = max(values)
        else:
            out[key] = statistics.median(values)
    return out
