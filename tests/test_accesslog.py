"""Combined-format parsing and traffic rules, with time as an argument; the generator writes what the parser reads."""

from __future__ import annotations

import collections
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.accesslog import (
    KEYS_KEPT,
    Batch,
    TrafficChange,
    TrafficRules,
    TrafficStats,
    feed,
    parse,
    section,
)
from log_monitor.simulator.traffic import generate, lines_for

LINE = b'10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /api/users/42?x=1 HTTP/1.1" 200 2326 "-" "curl/8"\n'
T0 = 1_795_000_000 - 1_795_000_000 % 86400  # a UTC midnight, so hours line up


def test_a_combined_line_gives_its_second_host_bytes_and_section() -> None:
    batch = parse(LINE)
    assert (batch.lines, batch.malformed) == (1, 0)
    assert dict(batch.per_second) == {971211336: 1}  # 2000-10-10 20:55:36 UTC
    assert batch.bytes_by_host["10.0.0.1"] == 2326
    assert batch.hits_by_section["/api/users/"] == 1


def test_malformed_and_invalid_utf8_lines_are_counted_not_fatal() -> None:
    data = (
        LINE
        + b"garbage \xff\xfe\n"
        + b"\n"
        + LINE.replace(b"2326", b"-")
        + b'1.2.3.4 - - [99/Zzz/2000:1] "GET /" 200 1\n'
    )
    batch = parse(data)
    assert batch.lines == 5
    assert batch.malformed == 3
    assert sum(batch.per_second.values()) == 2


def test_sections_are_the_first_two_folders_of_the_path() -> None:
    assert section(b"GET /a/b/c.html HTTP/1.1") == "/a/b/"
    assert section(b"GET /a/ HTTP/1.1") == "/a/"
    assert section(b"GET /index.html HTTP/1.1") == "/"
    assert section(b"-") == "/"


def test_a_request_with_a_quote_escaped_by_apache_or_nginx_is_parsed_with_the_escape_kept() -> None:
    # Apache writes a `"` in the request line as `\"` and a backslash as `\\` (ap_escape_logitem), nginx as `\x22`.
    # The request here is `/api/us"ers/x\" or 1=1 --`: what a scanner sends, and what a SOC wants counted.
    apache = LINE.replace(b"/api/users/42?x=1", b'/api/us\\"ers/x\\\\\\" or 1=1 --')
    nginx = LINE.replace(b"/api/users/42?x=1", b"/api/us\\x22ers/x")
    batch = parse(apache + nginx)
    assert (batch.lines, batch.malformed) == (2, 0)
    assert batch.hits_by_section == {'/api/us\\"ers/': 1, "/api/us\\x22ers/": 1}
    assert batch.bytes_by_host["10.0.0.1"] == 2 * 2326


def test_an_unescaped_quote_inside_the_request_is_still_malformed() -> None:
    assert parse(LINE.replace(b"/api/users/42?x=1", b'/a"b')).malformed == 1


def test_an_absolute_form_request_is_counted_under_its_path_not_its_host() -> None:
    assert section(b"GET http://evil.example/a/b/c HTTP/1.1") == "/a/b/"
    assert section(b"GET https://evil.example:8443/a/ HTTP/1.1") == "/a/"
    assert section(b"GET HTTP://evil.example?x=/a/b/c HTTP/1.1") == "/"
    assert section(b"GET http://evil.example HTTP/1.1") == "/"
    assert section(b"CONNECT evil.example:443 HTTP/1.1") == "/"
    assert section(b"OPTIONS * HTTP/1.1") == "/"
    batch = parse(LINE.replace(b"/api/users/42?x=1", b"http://evil.example/api/users/42"))
    assert batch.hits_by_section == {"/api/users/": 1}


def test_rates_over_ten_seconds_two_minutes_and_lifetime() -> None:
    stats = TrafficStats()
    for second in range(T0, T0 + 120):
        stats.add_hits(second, 5 if second >= T0 + 110 else 1, float(second))
    now = float(T0 + 119)
    assert stats.rate(now, 10) == 5.0
    assert stats.rate(now, 120) == (110 + 50) / 120
    assert stats.first is not None and stats.total / (now - stats.first) > 1.0


def test_top_hosts_are_ranked_by_bytes_and_sections_by_hits(tmp_path: Path) -> None:
    data = LINE + LINE.replace(b"10.0.0.1", b"10.0.0.2").replace(b"2326", b"99999") + LINE
    stats = TrafficStats()
    stats.add(parse(data), float(T0))
    assert stats.top_hosts(1) == [("10.0.0.2", 99999)]
    assert stats.top_sections(1) == [("/api/users/", 3)]


def test_a_spike_raises_high_traffic_and_a_notice_when_it_falls_back() -> None:
    stats, rules = TrafficStats(baseline_tau_s=600), TrafficRules(high_margin=1.0)
    normal = [(s, 10) for s in range(T0, T0 + 1800)]
    assert feed(stats, rules, normal) == []
    spike = [(s, 40) for s in range(T0 + 1800, T0 + 2100)]
    events = feed(stats, rules, spike)
    assert [e.change for e in events] == [TrafficChange.HIGH]
    assert events[0].rate > 20 and 9 < events[0].baseline < 11
    assert "high traffic" in events[0].message("nginx")
    back = feed(stats, rules, [(s, 10) for s in range(T0 + 2100, T0 + 2400)])
    assert [e.change for e in back] == [TrafficChange.HIGH_OVER]


def test_a_drop_below_the_usual_level_for_this_hour_raises_low_traffic_before_silence() -> None:
    stats, rules = TrafficStats(), TrafficRules(low_fraction=0.2)
    # Yesterday's midnight hour at 10 hits/s is this hour's usual level today.
    assert feed(stats, rules, [(s, 10) for s in range(T0, T0 + 3630)]) == []
    assert stats.usual_by_hour == {0: 10.0}
    # The rest of the day, checked every 10 s (100 hits each time: still 10 hits/s), then today's first minutes.
    assert feed(stats, rules, [(s, 100) for s in range(T0 + 3630, T0 + 86400, 10)]) == []
    assert feed(stats, rules, [(s, 10) for s in range(T0 + 86400, T0 + 86400 + 600)]) == []
    events = feed(stats, rules, [(s, 1) for s in range(T0 + 86400 + 600, T0 + 86400 + 900)])
    assert [e.change for e in events] == [TrafficChange.LOW]
    assert events[0].rate > 0  # fired before total silence
    back = feed(stats, rules, [(s, 10) for s in range(T0 + 86400 + 900, T0 + 86400 + 1200)])
    assert [e.change for e in back] == [TrafficChange.LOW_OVER]


def test_low_traffic_follows_the_rate_drop_rule_and_words_back_only_at_half_the_usual_level() -> None:
    stats, rules = TrafficStats(), TrafficRules(low_fraction=0.1)
    assert feed(stats, rules, [(s, 10) for s in range(T0, T0 + 3630)]) == []
    assert feed(stats, rules, [(s, 100) for s in range(T0 + 3630, T0 + 86400, 10)]) == []
    assert feed(stats, rules, [(s, 10) for s in range(T0 + 86400, T0 + 86400 + 600)]) == []
    low = feed(stats, rules, [(s, 1 if s % 2 else 0) for s in range(T0 + 86400 + 600, T0 + 86400 + 900)])
    assert [e.change for e in low] == [TrafficChange.LOW]
    words = r"nginx: (\d+) events in the last 2m, normally 1,200 \(usual level of this hour on past days\), (\d\.\d)%"
    said = re.fullmatch(words, low[0].message("nginx"))
    assert said is not None and int(said.group(1)) < 120, low[0].message("nginx")
    # 30% of the usual level: above the ratio, but not yet half of it: still low.
    assert feed(stats, rules, [(s, 3) for s in range(T0 + 86400 + 900, T0 + 86400 + 1200)]) == []
    back = feed(stats, rules, [(s, 5) for s in range(T0 + 86400 + 1200, T0 + 86400 + 1500)])
    assert [e.change for e in back] == [TrafficChange.LOW_OVER]


def test_the_generator_writes_lines_the_parser_reads_at_the_asked_rate(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    ticks = iter(float(T0 + n) for n in range(1000))
    written = generate(str(log), rate=25, seconds=4, clock=lambda: next(ticks), sleep=lambda _: None)
    batch = parse(log.read_bytes())
    assert batch.malformed == 0
    assert batch.lines == written
    assert written == 25 * 3  # one write per second the clock shows before the end
    rng = random.Random(3)
    assert sum(1 for _ in lines_for(T0, 2.5, rng)) in (2, 3)


def test_the_generator_drives_the_spike_alert_on_and_off_through_the_parser(tmp_path: Path) -> None:
    stats, rules = TrafficStats(baseline_tau_s=600), TrafficRules()
    rng = random.Random(7)
    changes: list[TrafficChange] = []
    for second in range(T0, T0 + 2400):
        rate = 60.0 if T0 + 1500 <= second < T0 + 1800 else 8.0
        data = "".join(lines_for(second, rate, rng)).encode()
        stats.add(parse(data), float(second))
        changes += [e.change for e in rules.evaluate(stats, float(second))]
    assert changes == [TrafficChange.HIGH, TrafficChange.HIGH_OVER]


def test_a_snapshot_carries_rates_baseline_and_tops_into_a_new_process() -> None:
    stats, rules = TrafficStats(), TrafficRules()
    feed(stats, rules, [(s, 10) for s in range(T0, T0 + 3700)])
    stats.add(parse(LINE * 3), T0 + 3700)
    copy = TrafficStats.restore(json.loads(json.dumps(stats.snapshot())))
    now = float(T0 + 3700)
    assert copy.rate(now, 120) == stats.rate(now, 120) and copy.rate(now, 10) == stats.rate(now, 10)
    assert copy.baseline(now) == stats.baseline(now) and copy.usual_by_hour == stats.usual_by_hour == {0: 10.0}
    assert copy.top_hosts() == stats.top_hosts() and copy.top_sections() == stats.top_sections()
    assert (copy.total, copy.first) == (stats.total, stats.first) and copy.watching_since == stats.watching_since
    spike = [(s, 50) for s in range(T0 + 3701, T0 + 3900)]
    assert feed(copy, TrafficRules(), spike) == feed(stats, rules, spike) != []


def test_hosts_and_sections_stay_bounded_under_a_scan_from_many_addresses() -> None:
    stats = TrafficStats()
    for round_ in range(3):
        batch = Batch()
        batch.bytes_by_host.update({f"10.{round_}.{i // 256}.{i % 256}": 1 for i in range(KEYS_KEPT)})
        batch.bytes_by_host["192.0.2.1"] = 10**9
        stats.add(batch, float(T0 + round_))
    assert len(stats.bytes_by_host) <= KEYS_KEPT
    assert stats.top_hosts(1) == [("192.0.2.1", 3 * 10**9)]


def _logged(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.integers(0, 3599),
            st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::7", "host.example"]),
            st.integers(0, 10**7),
            # Paths as servers write them: plain, with Apache's escaped quote and backslash, nginx's \x22, absolute.
            st.sampled_from(["/a/b/c", '/a/b/c\\" or 1=1 --', "/a/b/c\\\\", "/a/b/\\x22", "https://h.example/a/b/c"]),
        ),
        max_size=40,
    )
)
def test_every_well_formed_line_is_parsed_and_every_other_is_malformed(
    rows: list[tuple[bool, int, str, int, str]],
) -> None:
    lines: list[str] = []
    hosts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[int] = collections.Counter()
    for valid, offset, host, size, path in rows:
        if valid:
            lines.append(f'{host} - - [{_logged(T0 + offset)}] "GET {path} HTTP/1.1" 200 {size} "-" "x"\n')
            hosts[host] += size
            seconds[T0 + offset] += 1
        else:
            lines.append(f"{host} not an access log line {size}\n")
    batch = parse("".join(lines).encode())
    assert (batch.lines, batch.malformed) == (len(rows), len(rows) - sum(seconds.values()))
    assert batch.bytes_by_host == hosts and batch.per_second == seconds
    assert batch.hits_by_section == (collections.Counter({"/a/b/": sum(seconds.values())}) if seconds else {})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 60)), min_size=1, max_size=400), st.integers(0, 400))
def test_a_restored_snapshot_judges_what_follows_exactly_like_the_original(
    steps: list[tuple[int, int]], cut: int
) -> None:
    stats, rules = TrafficStats(baseline_tau_s=300), TrafficRules()
    seconds: list[tuple[int, int]] = []
    second = T0
    for gap, hits in steps:
        second += gap
        seconds.append((second, hits))
    feed(stats, rules, seconds[:cut])
    copy = TrafficStats.restore(json.loads(json.dumps(stats.snapshot())), baseline_tau_s=300)
    copy_rules = TrafficRules(high=rules.high, low=rules.low)
    assert feed(copy, copy_rules, seconds[cut:]) == feed(stats, rules, seconds[cut:])
