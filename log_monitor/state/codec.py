"""Rows to models and back: states and notifications as JSON, times as ISO text, a day's event_hours blob."""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from log_monitor.models import Condition, Notification, NotificationKind, Severity, TargetState

R = TypeVar("R")


def day_counts(blob: bytes) -> array[int]:
    """A day's 24 hourly counts as stored: unsigned 32-bit, little-endian."""
    counts = array("I")
    counts.frombytes(blob[: 24 * counts.itemsize])
    if sys.byteorder != "little":
        counts.byteswap()
    counts.extend([0] * (24 - len(counts)))
    return counts


def day_blob(counts: array[int]) -> bytes:
    if sys.byteorder != "little":
        counts = array("I", counts)
        counts.byteswap()
    return counts.tobytes()


def added_days(stored: bytes, closed: bytes) -> bytes:
    """A day's stored counts with closed hours added, each slot held within 32 bits (SQLite's `add_hours`)."""
    counts, more = day_counts(stored), day_counts(closed)
    for slot, events in enumerate(more):
        if events:
            counts[slot] = min(0xFFFFFFFF, counts[slot] + events)
    return day_blob(counts)


def hour_text(at: datetime) -> str:
    """The UTC hour's start, as stored (ISO text sorts as time does)."""
    return aware(at).astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def utc_text(at: datetime) -> str:
    """ISO text in UTC, so texts written from any zone compare in time order."""
    return (at if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def aware(at: datetime) -> datetime:
    """A time from a row: one without a zone (a hand edit) is taken as UTC, as every version writes it."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _now_text(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


# -- serialisation: plain JSON, so an older or newer version can still read the rows -------


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Severity):
        return value.name
    if isinstance(value, tuple):
        return list(value)
    return value


def _as_is(value: Any) -> Any:
    return value


def _time_or_null(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True)
class Column:
    """One column of a row table: its name (the row class's field of the same name) and how a value goes in and out."""

    name: str
    encode: Callable[[Any], Any] = _as_is
    decode: Callable[[Any], Any] = _as_is


def time_column(name: str) -> Column:
    return Column(name, _time_or_null, parse_time)


@dataclass(frozen=True)
class RowTable(Generic[R]):
    """A table holding one row class: its columns, written once, make the SQL and convert rows both ways."""

    name: str
    key: tuple[str, ...]  # the primary key: a saved row replaces the one with the same key
    row: Callable[..., R]  # takes the decoded columns in order
    columns: tuple[Column, ...]

    # The names in the SQL are the state package's constants, never input: the values all go through "?".
    @property
    def select(self) -> str:
        return f"SELECT {', '.join(column.name for column in self.columns)} FROM {self.name}"  # noqa: S608

    @property
    def upsert(self) -> str:
        names = [column.name for column in self.columns]
        updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in self.key)
        return (
            f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        )

    def decode(self, row: tuple[Any, ...]) -> R:
        return self.row(*(column.decode(value) for column, value in zip(self.columns, row, strict=True)))

    def encode(self, item: R) -> tuple[Any, ...]:
        return tuple(column.encode(getattr(item, column.name)) for column in self.columns)


_STATE_FIELDS = tuple(f.name for f in fields(TargetState))


def state_rows(states: Iterable[TargetState]) -> Iterator[tuple[str, str, str]]:
    """target_state rows (key, data, updated_at) of the states, for the store's upsert."""
    return ((s.target_key, state_to_json(s), _now_text(s.last_checked)) for s in states)


_STATE_TIMES = ("since", "last_event", "last_checked", "last_alert_at", "next_reminder_at", "read_until", "win_from")
_STATE_SEVERITIES = ("severity", "alerted")


def state_to_json(state: TargetState) -> str:
    # Field by field, not through a generic encoder: every state is written on every pass, by the thousand.
    data: dict[str, object] = {name: getattr(state, name) for name in _STATE_FIELDS}
    for key in _STATE_TIMES:
        when = data[key]
        if isinstance(when, datetime):
            data[key] = when.isoformat()
    for key in _STATE_SEVERITIES:
        data[key] = getattr(state, key).name
    return json.dumps(data)


def state_from_json(text: str) -> TargetState:
    raw = json.loads(text)
    data = {k: v for k, v in raw.items() if k in _STATE_FIELDS}
    for key in _STATE_TIMES:
        data[key] = aware(datetime.fromisoformat(data[key])) if data.get(key) else None
    for key in _STATE_SEVERITIES:
        data[key] = Severity[data.get(key, "OK")]
    data["condition"] = Condition(data.get("condition", "ok"))
    return TargetState(**data)


def note_to_json(note: Notification) -> str:
    return json.dumps({f.name: _encode(getattr(note, f.name)) for f in fields(note)})


def note_from_json(text: str) -> Notification:
    raw = json.loads(text)
    known = {f.name for f in fields(Notification)}
    data = {k: v for k, v in raw.items() if k in known}
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["last_event"] = datetime.fromisoformat(data["last_event"]) if data.get("last_event") else None
    data["kind"] = NotificationKind(data["kind"])
    data["severity"] = Severity[data["severity"]]
    data["condition"] = Condition(data["condition"])
    data["related"] = tuple(data.get("related", ()))
    return Notification(**data)
