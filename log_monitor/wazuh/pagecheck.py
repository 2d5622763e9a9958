"""Whether the pages of the indexer's composite aggregation can be right: keys asked, in order, once, well ended."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from operator import attrgetter, lt
from typing import Any

from log_monitor.errors import ResponseError
from log_monitor.wazuh.aggpage import BACKEND, BrokenAnswerError, Key, Page

# The query asks for events up to `until`: a later last event is an answer to some other question. A second of
# slack for the millisecond the range is written in.
_FUTURE_SLACK = timedelta(seconds=1)
_LAST_EVENT = attrgetter("last_event")


class PageCheck:
    """Checks each page of one paged aggregation against the query that asked for it and the pages before it.

    OpenSearch's composite aggregation gives each key once, in ascending order (a missing value first), only
    keys the query matches, and an `after_key` equal to the last bucket's key on every page that has buckets
    (no pipeline aggregation removes any here). A page that breaks any of these, from a proxy, a cache or a
    broken node, would make a live agent look silent (its bucket overwritten, the paging ended early) or a
    silent one look live: it is refused as a whole.
    """

    def __init__(self, names: Sequence[str], page_size: int, asked: Collection[str] | None, until: datetime) -> None:
        self._names = tuple(names)
        self._page_size = page_size
        self._asked = frozenset(asked) if asked is not None else None
        self._latest = until + _FUTURE_SLACK
        self._previous: Key | None = None  # the last key of the pages before

    def check(self, page: Page) -> None:
        """Raise BrokenAnswerError when the page cannot be the next page of a real answer."""
        buckets = page.buckets
        if not buckets:
            return
        keys = [key for key, _ in buckets]
        first, last = keys[0], keys[-1]
        if self._previous is not None and not first > self._previous:
            raise BrokenAnswerError(
                f"after_key did not advance: key {_short(first)} again or out of order after {_short(self._previous)}"
            )
        if not all(map(lt, keys, keys[1:])):
            raise BrokenAnswerError(f"a key twice or out of order in one page ({_disorder(keys)})")
        if self._asked is not None:
            unasked = {key[0] for key in keys} - self._asked
            if unasked:
                raise BrokenAnswerError(f"buckets for agents not asked for ({', '.join(sorted(unasked)[:3])})")
        self._check_after(page.after, last, len(keys))
        moments = [moment for moment in map(_LAST_EVENT, (stats for _, stats in buckets)) if moment is not None]
        if moments and max(moments) > self._latest:
            raise BrokenAnswerError(f"a last event at {max(moments).isoformat()}, after the end of the range asked for")
        self._previous = last

    def _check_after(self, after: object, last: Key, count: int) -> None:
        if after is None:
            if count >= self._page_size:
                raise BrokenAnswerError(f"a full page of {count} buckets without an after_key")
            return
        if not isinstance(after, dict):
            raise BrokenAnswerError(f"an after_key that is not an object ({_short(after)})")
        parts = tuple("" if (part := after.get(name)) is None else part for name in self._names)
        if parts != last:
            raise BrokenAnswerError(f"after_key {_short(after)} is not the last bucket's key {_short(last)}")


def _disorder(keys: list[Key]) -> str:
    at = next(i for i in range(1, len(keys)) if not keys[i - 1] < keys[i])
    return f"{_short(keys[at])} after {_short(keys[at - 1])}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def shortfall(body: dict[str, Any]) -> str | None:
    """What a search answer lacks, when it says it is partial: "1 of 6 shards failed (kinds)", or a timeout.

    A shard with no live copy fails with no entry in `failures` at all (REALITY.md §10): `failed` alone
    says so. When every shard failed nothing was read: that is the whole answer's error, not a shortfall.
    """
    shards = body.get("_shards")
    failed = shards.get("failed", 0) if isinstance(shards, dict) else 0
    if isinstance(failed, int) and not isinstance(failed, bool) and failed > 0:
        total = shards.get("total") if isinstance(shards, dict) else None
        if isinstance(total, int) and failed >= total:
            raise ResponseError(BACKEND, f"all {total} shards failed{_shard_reasons(shards)}")
        return f"{failed} of {total if isinstance(total, int) else '?'} shards failed{_shard_reasons(shards)}"
    if body.get("timed_out") is True:
        return "the search timed out"
    return None


def _shard_reasons(shards: object) -> str:
    failures = shards.get("failures") if isinstance(shards, dict) else None
    if not isinstance(failures, list):
        return ""
    texts: list[str] = []
    for failure in failures[:3]:
        reason = failure.get("reason") if isinstance(failure, dict) else None
        if isinstance(reason, dict):
            texts.append(str(reason.get("type") or reason.get("reason") or ""))
    kinds = sorted({t for t in texts if t})
    return f" ({', '.join(kinds)})" if kinds else ""
