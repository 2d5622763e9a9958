"""Hypothesis fuzzing of every parser: only our documented errors may escape.

Env files -> ConfigError; agents.csv / files.csv -> ConfigError; durations and maintenance windows ->
ValueError; access log lines -> no error at all (bad lines are counted, not raised); API and indexer
answers -> a BackendError subclass. Anything else (a KeyError, a RecursionError, an OverflowError from
a timestamp) would be a crash in the daemon loop.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_monitor.accesslog import parse as parse_access_log
from log_monitor.config import Settings, load_settings
from log_monitor.config.keys import KNOWN_KEYS
from log_monitor.config.values import parse_duration
from log_monitor.errors import BackendError, ConfigError
from log_monitor.httpboundary import read_json
from log_monitor.models import Secret
from log_monitor.targets import load_targets, parse_maintenance
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.faults.common import FULL

EXAMPLES = 400 if FULL else 40
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

# Every key the table knows, and the `_FILE` form of each secret: a new key is fuzzed as soon as it exists.
KEYS = sorted(KNOWN_KEYS)
# Values shaped like the real ones, mixed with noise, so the fuzzer reaches the validators, not only the reader.
VALUES = st.one_of(
    st.sampled_from(["15m", "0", "-1", "1e400", "nan", "10d", "https://h:55000", "true", "off", "001:10,2:x", "50%"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30),
)
LINES = st.one_of(
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.text(max_size=40),
    st.sampled_from(["# comment", "", "export X=1", "KEY='unterminated", 'Q="a\\"b"']),
)


@FUZZ
@given(lines=st.lists(LINES, max_size=12))
def test_any_env_file_loads_or_raises_config_error(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.env"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert exc.problems


CELLS = st.one_of(
    st.sampled_from(["001", "1", "", "5m", "0", "-3", "*", "/var/log/a|/var/log/b", "Mon-Fri 22:00-06:00", "x"]),
    st.text(st.characters(exclude_characters="\r\n\x00"), max_size=15),
)
ROWS = st.one_of(
    st.lists(CELLS, min_size=0, max_size=7).map(",".join),
    st.sampled_from(["# comment", "", "agent_id,label,interval", '"quoted,cell",x', '"unterminated']),
)


@FUZZ
@given(agents=st.lists(ROWS, max_size=8), files=st.lists(ROWS, max_size=5))
def test_any_agents_and_files_csv_load_or_raise_config_error(
    tmp_path: Path, agents: list[str], files: list[str]
) -> None:
    (tmp_path / "agents.csv").write_text("\n".join(agents), encoding="utf-8", errors="surrogatepass")
    (tmp_path / "files.csv").write_text("\n".join(files), encoding="utf-8", errors="surrogatepass")
    settings_ = Settings(
        env_file=tmp_path / "x.env",
        base_dir=tmp_path,
        agent_list_file=tmp_path / "agents.csv",
        local_files_list=tmp_path / "files.csv",
    )
    try:
        targets = load_targets(settings_)
    except ConfigError as exc:
        assert all(str(tmp_path) in p for p in exc.problems), "every problem names its file"
    else:
        assert all(t.interval_s > 0 and t.threshold_s > 0 for t in targets)


@FUZZ
@given(text=st.one_of(st.text(max_size=20), st.from_regex(r"\A\s*[0-9.eE+-]{1,12}\s*[smhdSMHD]?\s*\Z")))
def test_any_duration_is_seconds_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(seconds)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\A([A-Za-z,\- ]{0,12} )?\d{1,2}:\d{2} ?- ?\d{1,2}:\d{2}(\|.{0,10})?\Z"),
    )
)
def test_any_maintenance_window_parses_or_raises_value_error(text: str) -> None:
    try:
        windows = parse_maintenance(text)
    except ValueError:
        return
    for window in windows:
        assert 0 <= window.start_minute < 24 * 60 and 0 <= window.end_minute <= 24 * 60
        assert window.days and window.days <= set(range(7))


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300), st.lists(st.text(max_size=80), max_size=5).map(lambda x: "\n".join(x).encode())
    )
)
def test_any_access_log_bytes_parse_without_raising(data: bytes) -> None:
    parse_access_log(data)


# -- API and indexer answers ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def shaped(keys: list[str]) -> st.SearchStrategy[Any]:
    """JSON objects built from the keys a real answer has, so parsing gets past the first lookup."""
    known = st.sampled_from(keys)
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=24)
        | st.just("2026-11-22T10:00:00Z"),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(known | st.text(max_size=6), inner, max_size=5),
        max_leaves=30,
    )


API_KEYS = ["data", "affected_items", "total_affected_items", "id", "name", "status", "lastKeepAlive", "ip", "token"]
INDEXER_KEYS = [
    "aggregations",
    "agents",
    "buckets",
    "after_key",
    "key",
    "agent",
    "location",
    "last_event",
    "value",
    "in_window",
    "doc_count",
    "_shards",
    "failed",
    "failures",
    "timed_out",
    "count",
]
STATUSES = st.sampled_from([200, 200, 200, 400, 401, 403, 404, 429, 500, 503])
BODIES = st.one_of(
    st.binary(max_size=64),
    st.just(b"[" * 100_000),  # nesting deeper than the JSON parser's recursion limit
)


def serve(status: int, body: bytes) -> httpx.MockTransport:
    """The fuzzed answer once, then an empty page: the client under test is the parser, not the paging loop."""
    answered: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticate"):
            return httpx.Response(200, json={"data": {"token": "a.b.c"}})
        if answered:
            return httpx.Response(200, json={"data": {"affected_items": [], "total_affected_items": 0}})
        answered.append(request)
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handler)


def encode(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@FUZZ
@given(status=STATUSES, body=st.one_of(shaped(API_KEYS).map(encode), BODIES, JSON_VALUES.map(encode)))
def test_any_api_answer_is_agents_or_a_backend_error(status: int, body: bytes) -> None:
    api = WazuhAPIHandler(
        Connection("http://api", "u", Secret("p"), transport=serve(status, body), sleep=lambda _: None)
    )
    with api:
        try:
            agents = api.list_agents()
        except BackendError:
            return
    assert all(isinstance(agent.id, str) for agent in agents)


@FUZZ
@given(status=STATUSES, body=st.one_of(shaped(INDEXER_KEYS).map(encode), BODIES, JSON_VALUES.map(encode)))
def test_any_indexer_answer_is_stats_or_a_backend_error(status: int, body: bytes) -> None:
    indexer = WazuhIndexer(
        Connection("http://idx", "u", Secret("p"), transport=serve(status, body), sleep=lambda _: None)
    )
    with indexer:
        try:
            stats = indexer.last_events(NOW - timedelta(days=7), NOW - timedelta(minutes=15), NOW, by_location=True)
        except BackendError:
            return
    assert all(isinstance(key, tuple) for key in stats)


@FUZZ
@given(
    body=st.one_of(
        JSON_VALUES.map(encode),
        shaped(INDEXER_KEYS).map(encode),
        BODIES,
        JSON_VALUES.map(lambda value: json.dumps(value).encode("utf-16")),
        st.sampled_from([b"NaN", b"[Infinity]", b"1" * 30, b'"\\ud800"', b"\xef\xbb\xbf{}", b"1e400", b"[1,]"]),
    )
)
def test_every_answer_reads_as_the_stdlib_reads_it_or_fails_as_it_does(body: bytes) -> None:
    # msgspec reads most answers; whatever it refuses, the stdlib decides, so nothing parses differently.
    try:
        expected = json.loads(body)
    except (ValueError, RecursionError):
        try:
            read_json(body)
        except (ValueError, RecursionError):
            return
        raise AssertionError(f"read {body[:40]!r}, which json.loads refuses") from None
    # repr: 1 and 1.0, nan, key order, an integer beyond 64 bits all tell.
    assert repr(read_json(body)) == repr(expected)
