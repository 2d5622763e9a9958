"""The words of a rate-drop alert, one sentence shared by the indexer's targets and the access logs."""

from __future__ import annotations


def drop_sentence(label: str, recent: float, baseline: float, window_s: float, basis: str = "") -> str:
    """The drop in numbers, as people read it.

    "fw-alpha: 312 events in the last 15m, normally 41,870 (median of the same 15 minutes on the last 7 days), 0.7%"
    `basis` says where "normally" comes from, when it is not that median.
    """
    share = percent(100.0 * recent / baseline if baseline > 0 else 0.0)
    basis = basis or f"median of the same {long_span(window_s)} on the last 7 days"
    counts = f"{recent:,.0f} events in the last {short_span(window_s)}, normally {baseline:,.0f}"
    return f"{label}: {counts} ({basis}), {share}"


BASELINE_DAYS = 7  # the baseline is the median of the same window on this many previous days
LEARNING_DAYS = 3  # fewer of those days with events: no baseline yet, and no rate-drop alert (policy)


def rate_against(recent: int | None, baseline: float | None, history_days: int | None = None) -> str:
    """ "12 / 600 (2.0%)": events in the window against the baseline, for tables; "" when not counted.

    While fewer than LEARNING_DAYS of the BASELINE_DAYS had events, or the baseline is 0, there is nothing to
    compare with yet: "12 / learning (2 of 7 days)", never "12 / 0".
    """
    if recent is None or baseline is None:
        return ""
    if baseline <= 0 or (history_days is not None and history_days < LEARNING_DAYS):
        days = min(history_days or 0, BASELINE_DAYS)
        return f"{recent:,} / learning ({days} of {BASELINE_DAYS} days)"
    return f"{recent:,} / {baseline:,.0f} ({percent(100.0 * recent / baseline)})"


def percent(share: float) -> str:
    """0.7%, 9.8%, 60%: one decimal only where it matters."""
    return f"{share:.1f}%" if share < 10 else f"{share:.0f}%"


def short_span(seconds: float) -> str:
    """15m, 1h, 90s: the window as DEFAULT_CHECK_INTERVAL is usually written."""
    whole = int(seconds)
    if whole % 3600 == 0 and whole:
        return f"{whole // 3600}h"
    if whole % 60 == 0 and whole:
        return f"{whole // 60}m"
    return f"{whole}s"


def long_span(seconds: float) -> str:
    """15 minutes, 1 hour, 90 seconds."""
    whole = int(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        if whole % size == 0 and whole:
            count = whole // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{whole} seconds"
