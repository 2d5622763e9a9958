"""The Wazuh simulator over real loopback HTTP: tokens, rate limit, agent listing, indexer figures, faults, TLS."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.clock import FakeClock
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)
AUTH_LOG = "/var/log/auth.log"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def fleet(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web", locations=("/var/log/syslog", AUTH_LOG), started=HOUR_AGO)
    fleet.add_agent("002", "db", started=HOUR_AGO)
    fleet.add_agent("003", "mail", started=HOUR_AGO, rate_per_min=60)
    fleet.add_agent("004", "fw", started=HOUR_AGO, status="disconnected")
    fleet.silence("002", since=NOW - timedelta(minutes=20))
    fleet.silence("001", AUTH_LOG, since=NOW - timedelta(minutes=30))
    fleet.silence("004", since=NOW - timedelta(minutes=40))
    return fleet


@pytest.fixture
def sim(fleet: Fleet, clock: FakeClock) -> Iterator[SimulatorServer]:
    with SimulatorServer(fleet, clock=clock, max_rpm=50) as server:
        yield server


@pytest.fixture
def indexer(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.indexer_url, auth=("admin", "admin")) as client:
        yield client


def login(api: httpx.Client) -> str:
    response = api.post("/security/user/authenticate", auth=("wazuh", "wazuh"))
    assert response.status_code == 200
    return str(response.json()["data"]["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def agents(api: httpx.Client, token: str, **params: str) -> dict[str, Any]:
    response = api.get("/agents", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def search(indexer: httpx.Client, body: dict[str, Any], index: str = "wazuh-alerts-4.x-*") -> dict[str, Any]:
    response = indexer.post(f"/{index}/_search", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def composite_query(
    start: datetime,
    end: datetime,
    window_start: datetime,
    *,
    size: int = 5000,
    by_location: bool = False,
    after: dict[str, str] | None = None,
    agent_field: str = "agent.id",
    ts_field: str = "timestamp",
    location_field: str = "location",
) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [{"agent": {"terms": {"field": agent_field}}}]
    if by_location:
        sources.append({"location": {"terms": {"field": location_field}}})
    composite: dict[str, Any] = {"size": size, "sources": sources}
    if after is not None:
        composite["after"] = after
    time_range = {"gte": iso(start), "lte": iso(end), "format": "strict_date_optional_time"}
    window = {"gte": iso(window_start), "lte": iso(end), "format": "strict_date_optional_time"}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": [{"range": {ts_field: time_range}}]}},
        "aggs": {
            "agents": {
                "composite": composite,
                "aggs": {
                    "last_event": {"max": {"field": ts_field}},
                    "in_window": {"filter": {"range": {ts_field: window}}},
                },
            }
        },
    }


# -- Fleet arithmetic -----------------------------------------------------------------------


def test_fleet_counts_events_at_the_stream_period(clock: FakeClock, fleet: Fleet) -> None:
    # 6 a minute for an hour, both ends included.
    assert fleet.count("003", None, HOUR_AGO, NOW) == 3601
    assert fleet.count("001", "/var/log/syslog", HOUR_AGO, NOW) == 361
    assert fleet.last_event("001", "/var/log/syslog", HOUR_AGO, NOW) == NOW


def test_a_silenced_stream_has_no_events_after_since_and_comes_back_when_resumed(
    clock: FakeClock, fleet: Fleet
) -> None:
    since = NOW - timedelta(minutes=20)
    assert fleet.count("002", None, since, NOW) == 0
    assert fleet.last_event("002", None, HOUR_AGO, NOW) == since - timedelta(seconds=10)
    fleet.resume("002", at=NOW + timedelta(minutes=5))
    clock.advance(600)
    assert fleet.last_event("002", None, HOUR_AGO, clock.now()) == clock.now()
    assert fleet.count("002", None, since, clock.now()) == 31


def test_the_future_has_no_events_yet(fleet: Fleet) -> None:
    assert fleet.count("003", None, NOW + timedelta(seconds=1), NOW + timedelta(hours=1)) == 0


def test_the_manager_is_listed_but_emits_nothing(fleet: Fleet) -> None:
    assert fleet.agents()[0].id == "000"
    assert fleet.count("000", None, HOUR_AGO, NOW) == 0
    assert fleet.locations("000") == []


def test_an_active_agent_is_listed_with_a_keepalive_of_now_and_a_disconnected_one_with_its_last(
    clock: FakeClock, fleet: Fleet
) -> None:
    fleet.add_agent("005", "new", started=HOUR_AGO, status="never_connected", ip="10.9.9.9", os_name="Windows")
    listed = {agent.id: agent for agent in fleet.agents()}
    assert listed["001"].last_keepalive == NOW
    assert listed["004"].last_keepalive == HOUR_AGO
    new = listed["005"]
    assert (new.name, new.status, new.ip, new.os, new.last_keepalive, new.date_add) == (
        "new",
        "never_connected",
        "10.9.9.9",
        "Windows",
        None,
        HOUR_AGO,
    )
    clock.advance(60)
    assert {agent.id: agent.last_keepalive for agent in fleet.agents()}["001"] == NOW + timedelta(seconds=60)


def test_generate_pads_ids_and_silences_every_nth_agent(clock: FakeClock) -> None:
    fleet = Fleet.generate(1001, now=clock.now, started=HOUR_AGO - timedelta(hours=1), silent_every=500)
    ids = [agent.id for agent in fleet.agents()]
    assert ids[:2] == ["000", "001"] and ids[-1] == "1001"
    assert fleet.agents()[1].name == "agent-001"
    window = (NOW - timedelta(minutes=30), NOW)
    silent = [i for i in ids[1:] if fleet.count(i, None, *window) == 0]
    assert silent == ["500", "1000"]


def brute_force(
    started: int, period: int, silences: list[tuple[int, int | None]], lo: int, hi: int, now: int
) -> list[int]:
    events = []
    t = started
    while t <= min(hi, now):
        silenced = any(s <= t and (u is None or t < u) for s, u in silences)
        if t >= lo and not silenced:
            events.append(t)
        t += period
    return events


@settings(max_examples=150, deadline=None)
@given(
    started=st.integers(0, 300),
    rate=st.sampled_from([60.0, 30.0, 12.0, 6.0, 7.0]),
    scripts=st.lists(st.tuples(st.integers(0, 900), st.one_of(st.none(), st.integers(0, 900))), max_size=4),
    lo=st.integers(0, 900),
    span=st.integers(0, 900),
)
def test_fleet_count_matches_a_brute_force_enumeration(
    started: int, rate: float, scripts: list[tuple[int, int | None]], lo: int, span: int
) -> None:
    base = NOW - timedelta(seconds=1000)
    fleet = Fleet(now=lambda: NOW)
    fleet.add_agent("001", "a", started=base + timedelta(seconds=started), rate_per_min=rate)
    silences: list[tuple[int, int | None]] = []
    for since, length in scripts:
        fleet.silence("001", since=base + timedelta(seconds=since))
        silences.append((since, None))
        if length is not None:
            until = since + length
            fleet.resume("001", at=base + timedelta(seconds=until))
            silences = [(s, until if u is None and s <= until else u) for s, u in silences]
    in_ms = [(s * 1000, None if u is None else u * 1000) for s, u in silences]
    period = round(60_000 / rate)
    expected = brute_force(started * 1000, period, in_ms, lo * 1000, (lo + span) * 1000, 1000 * 1000)
    start, end = base + timedelta(seconds=lo), base + timedelta(seconds=lo + span)
    assert fleet.count("001", None, start, end) == len(expected)
    last = fleet.last_event("001", None, start, end)
    assert last == (base + timedelta(milliseconds=expected[-1]) if expected else None)


# -- Server API: tokens --------------------------------------------------------------------


def test_login_gives_a_signed_jwt_with_the_wazuh_claims(api: httpx.Client, clock: FakeClock) -> None:
    token = login(api)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == "wazuh" and claims["aud"] == "Wazuh API REST" and claims["sub"] == "wazuh"
    assert claims["exp"] == int(NOW.timestamp()) + 900
    assert claims["rbac_roles"] == [1] and claims["run_as"] is False
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "HS256"
    assert signature


def test_a_token_is_reused_for_many_requests(api: httpx.Client, sim: SimulatorServer) -> None:
    token = login(api)
    for _ in range(3):
        assert api.get("/", headers=bearer(token)).status_code == 200
    assert sim.stats.api_logins == 1
    assert sim.stats.api_requests == 4


def test_raw_login_returns_the_bare_token_as_text(api: httpx.Client) -> None:
    response = api.post("/security/user/authenticate", params={"raw": "true"}, auth=("wazuh", "wazuh"))
    assert response.headers["content-type"] == "text/plain"
    assert response.text.count(".") == 2


def test_the_deprecated_get_login_still_works(api: httpx.Client) -> None:
    assert api.get("/security/user/authenticate", auth=("wazuh", "wazuh")).status_code == 200


def test_bad_credentials_get_401_invalid_credentials(api: httpx.Client, sim: SimulatorServer) -> None:
    response = api.post("/security/user/authenticate", auth=("wazuh", "nope"))
    assert response.status_code == 401
    assert response.json() == {"title": "Unauthorized", "detail": "Invalid credentials"}
    assert sim.stats.api_401 == 1


def test_expired_token_gets_401_invalid_token(api: httpx.Client, clock: FakeClock) -> None:
    token = login(api)
    clock.advance(899)
    assert api.get("/agents", headers=bearer(token)).status_code == 200
    clock.advance(1)
    response = api.get("/agents", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"title": "Unauthorized", "detail": "Invalid token"}


def test_expire_tokens_invalidates_every_issued_token_at_once(api: httpx.Client, sim: SimulatorServer) -> None:
    first, second = login(api), login(api)
    sim.expire_tokens()
    assert api.get("/", headers=bearer(first)).status_code == 401
    assert api.get("/", headers=bearer(second)).status_code == 401
    assert api.get("/", headers=bearer(login(api))).status_code == 200


def test_a_forged_token_gets_401(api: httpx.Client) -> None:
    header, payload, _ = login(api).split(".")
    assert api.get("/", headers=bearer(f"{header}.{payload}.AAAA")).status_code == 401


def test_a_request_without_token_gets_401_no_token(api: httpx.Client) -> None:
    response = api.get("/agents")
    assert response.status_code == 401
    assert response.json()["detail"] == "No authorization token provided"


# -- Server API: rate limit and faults --------------------------------------------------------


def test_rate_limit_answers_429_6001_then_allows_again_after_a_minute(
    api: httpx.Client, sim: SimulatorServer, clock: FakeClock
) -> None:
    token = login(api)
    for _ in range(49):
        assert api.get("/", headers=bearer(token)).status_code == 200
    response = api.get("/", headers=bearer(token))
    assert response.status_code == 429
    assert response.json()["error"] == 6001
    assert "retry-after" not in response.headers
    assert sim.stats.api_429 == 1
    clock.advance(60)  # the API's window is fixed and lasts 60 s inclusive (api/middlewares.py check_rate_limit)
    assert api.get("/", headers=bearer(token)).status_code == 429
    clock.advance(1)
    assert api.get("/", headers=bearer(token)).status_code == 200


def test_fail_next_api_answers_500_that_many_times(api: httpx.Client, sim: SimulatorServer) -> None:
    sim.faults.fail_next_api = 2
    assert api.post("/security/user/authenticate", auth=("wazuh", "wazuh")).status_code == 500
    assert api.post("/security/user/authenticate", auth=("wazuh", "wazuh")).status_code == 500
    assert api.post("/security/user/authenticate", auth=("wazuh", "wazuh")).status_code == 200


def test_api_down_answers_500_with_a_wazuh_error_body(api: httpx.Client, sim: SimulatorServer) -> None:
    sim.faults.api_mode = "down"
    response = api.post("/security/user/authenticate", auth=("wazuh", "wazuh"))
    assert response.status_code == 500
    assert {"title", "detail"} <= set(response.json())


def test_unknown_paths_get_404_and_unknown_parameters_400(api: httpx.Client) -> None:
    token = login(api)
    assert api.get("/nothing/here", headers=bearer(token)).status_code == 404
    response = api.get("/agents", params={"bogus": "1"}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


# -- Server API: agents and stats --------------------------------------------------------------


def test_agents_page_by_limit_and_offset_with_the_total(api: httpx.Client) -> None:
    token = login(api)
    first = agents(api, token, limit="2", offset="0", sort="+id")
    second = agents(api, token, limit="2", offset="2", sort="+id")
    third = agents(api, token, limit="2", offset="4", sort="+id")
    ids = [a["id"] for page in (first, second, third) for a in page["affected_items"]]
    assert ids == ["000", "001", "002", "003", "004"]
    assert first["total_affected_items"] == 5 and first["failed_items"] == []


def test_agents_items_carry_the_example_fields(api: httpx.Client, clock: FakeClock) -> None:
    item = agents(api, login(api), agents_list="001")["affected_items"][0]
    assert {"id", "name", "ip", "status", "status_code", "os", "version", "manager", "node_name"} <= set(item)
    assert {"dateAdd", "lastKeepAlive", "group", "registerIP", "configSum", "mergedSum"} <= set(item)
    assert item["lastKeepAlive"] == "2026-11-22T10:00:00+00:00"  # the real API writes +00:00, not Z (REALITY.md §6)
    assert item["version"] == "Wazuh v4.14.7"


def test_select_keeps_the_id_and_the_nested_fields_asked(api: httpx.Client) -> None:
    items = agents(api, login(api), select="name,os.name", limit="2")["affected_items"]
    assert items[1] == {"id": "001", "name": "web", "os": {"name": "Ubuntu"}}


def test_status_filter_and_sort_descending(api: httpx.Client) -> None:
    token = login(api)
    data = agents(api, token, status="active", sort="-id")
    assert [a["id"] for a in data["affected_items"]] == ["003", "002", "001", "000"]
    disconnected = agents(api, token, status="disconnected")["affected_items"]
    assert [a["id"] for a in disconnected] == ["004"]
    assert "disconnection_time" in disconnected[0]


def test_q_filters_with_and_or_and_comparisons(api: httpx.Client) -> None:
    token = login(api)

    def ids(q: str) -> list[str]:
        return [a["id"] for a in agents(api, token, q=q)["affected_items"]]

    assert ids("id!=000") == ["001", "002", "003", "004"]
    assert ids("id>002") == ["003", "004"]
    assert ids("name=web,name=db") == ["001", "002"]
    assert ids("status=active;id>000;name~a") == ["003"]
    bad = api.get("/agents", params={"q": "nonsense"}, headers=bearer(token))
    assert bad.status_code == 400


def test_logcollector_stats_count_each_location(api: httpx.Client, fleet: Fleet) -> None:
    response = api.get("/agents/001/stats/logcollector", headers=bearer(login(api)))
    item = response.json()["data"]["affected_items"][0]
    files = {f["location"]: f for f in item["global"]["files"]}
    assert files["/var/log/syslog"]["events"] == fleet.count("001", "/var/log/syslog", HOUR_AGO, NOW)
    assert files[AUTH_LOG]["events"] == fleet.count("001", AUTH_LOG, HOUR_AGO, NOW)
    assert files[AUTH_LOG]["bytes"] > 0
    assert {f["location"]: f["events"] for f in item["interval"]["files"]} == {"/var/log/syslog": 7, AUTH_LOG: 0}


def test_logcollector_stats_of_an_unknown_agent_is_a_failed_item(api: httpx.Client) -> None:
    data = api.get("/agents/999/stats/logcollector", headers=bearer(login(api))).json()["data"]
    assert data["total_failed_items"] == 1
    assert data["failed_items"][0]["id"] == ["999"]


def test_api_info_names_the_version(api: httpx.Client) -> None:
    data = api.get("/", headers=bearer(login(api))).json()["data"]
    assert data["title"] == "Wazuh API REST" and data["api_version"] == "4.14.7"


# -- Indexer ------------------------------------------------------------------------------


def test_indexer_answers_its_cluster_info(indexer: httpx.Client) -> None:
    info = indexer.get("/").json()
    assert info["version"]["distribution"] == "opensearch"
    assert info["cluster_name"] == "wazuh-cluster"


def test_indexer_refuses_bad_credentials_with_a_security_exception(sim: SimulatorServer) -> None:
    response = httpx.get(f"{sim.indexer_url}/", auth=("admin", "wrong"))
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "security_exception"


def test_count_matches_the_fleet_with_term_and_date_math(
    indexer: httpx.Client, fleet: Fleet, sim: SimulatorServer
) -> None:
    query = {
        "query": {"bool": {"filter": [{"term": {"agent.id": "003"}}, {"range": {"timestamp": {"gte": "now-15m"}}}]}}
    }
    response = indexer.post("/wazuh-alerts-4.x-%2A/_count", json=query)
    assert response.json()["count"] == fleet.count("003", None, NOW - timedelta(minutes=15), NOW) == 901
    assert sim.stats.indexer_counts == 1


def test_composite_search_gives_exact_counts_and_last_events(indexer: httpx.Client, fleet: Fleet) -> None:
    window_start = NOW - timedelta(minutes=15)
    answer = search(indexer, composite_query(HOUR_AGO, NOW, window_start))
    buckets = {b["key"]["agent"]: b for b in answer["aggregations"]["agents"]["buckets"]}
    assert set(buckets) == {"001", "002", "003", "004"}
    for agent_id, bucket in buckets.items():
        assert bucket["doc_count"] == fleet.count(agent_id, None, HOUR_AGO, NOW)
        assert bucket["in_window"]["doc_count"] == fleet.count(agent_id, None, window_start, NOW)
        last = fleet.last_event(agent_id, None, HOUR_AGO, NOW)
        assert last is not None
        assert bucket["last_event"]["value"] == last.timestamp() * 1000
        assert bucket["last_event"]["value_as_string"] == iso(last)
    assert buckets["002"]["in_window"]["doc_count"] == 0
    assert answer["_shards"]["failed"] == 0


def test_rate_windows_count_exactly_and_each_agents_locations_are_looked_up_once_not_per_count(
    indexer: httpx.Client, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Eight overlapping windows, as the rate-drop baseline asks beside last_event and in_window.
    windows = [(NOW - timedelta(minutes=15 + 5 * day), NOW - timedelta(minutes=5 * day)) for day in range(8)]
    body = composite_query(HOUR_AGO, NOW, NOW - timedelta(minutes=15))
    ranges = {f"d{day}": {"range": {"timestamp": {"gte": iso(s), "lt": iso(e)}}} for day, (s, e) in enumerate(windows)}
    body["aggs"]["agents"]["aggs"]["rate"] = {"filters": {"filters": ranges}}
    asked: list[str] = []
    listed = fleet.locations

    def locations(agent_id: str) -> list[str]:
        asked.append(agent_id)
        return listed(agent_id)

    monkeypatch.setattr(fleet, "locations", locations)
    buckets = search(indexer, body)["aggregations"]["agents"]["buckets"]
    assert {b["key"]["agent"] for b in buckets} == {"001", "002", "003", "004"}
    for bucket in buckets:
        agent_id = bucket["key"]["agent"]
        counts = {name: entry["doc_count"] for name, entry in bucket["rate"]["buckets"].items()}
        one_ms = timedelta(milliseconds=1)
        assert counts == {f"d{day}": fleet.count(agent_id, None, s, e - one_ms) for day, (s, e) in enumerate(windows)}
    # A bucket's dozen counts share one look at the agent's locations (a 1,000-agent pass made 12,000 of them).
    assert sorted(asked) == sorted(set(asked))


def test_silenced_agents_drop_out_of_a_recent_range_and_resumed_ones_come_back(
    indexer: httpx.Client, fleet: Fleet, clock: FakeClock
) -> None:
    recent = NOW - timedelta(minutes=10)
    keys = [
        b["key"]["agent"]
        for b in search(indexer, composite_query(recent, NOW, recent))["aggregations"]["agents"]["buckets"]
    ]
    assert keys == ["001", "003"]
    fleet.resume("002")
    clock.advance(30)
    buckets = search(indexer, composite_query(recent, clock.now(), recent))["aggregations"]["agents"]["buckets"]
    assert [b["key"]["agent"] for b in buckets] == ["001", "002", "003"]
    assert buckets[1]["doc_count"] == 4


def test_composite_pages_by_after_key_per_location(indexer: httpx.Client) -> None:
    seen: list[tuple[str, str]] = []
    after: dict[str, str] | None = None
    pages = 0
    while True:
        query = composite_query(HOUR_AGO, NOW, HOUR_AGO, size=2, by_location=True, after=after)
        agg = search(indexer, query)["aggregations"]["agents"]
        pages += 1
        seen += [(b["key"]["agent"], b["key"]["location"]) for b in agg["buckets"]]
        if not agg["buckets"]:
            assert "after_key" not in agg
            break
        after = agg["after_key"]
    assert seen == [
        ("001", AUTH_LOG),
        ("001", "/var/log/syslog"),
        ("002", "/var/log/syslog"),
        ("003", "/var/log/syslog"),
        ("004", "/var/log/syslog"),
    ]
    assert pages == 4


def test_field_names_come_from_the_query(indexer: httpx.Client, fleet: Fleet, sim: SimulatorServer) -> None:
    query = composite_query(
        HOUR_AGO,
        NOW,
        HOUR_AGO,
        by_location=True,
        agent_field="wazuh.agent.id",
        ts_field="@timestamp",
        location_field="wazuh.protocol.location",
    )
    buckets = search(indexer, query, "wazuh-events-v5*")["aggregations"]["agents"]["buckets"]
    assert buckets[0]["doc_count"] == fleet.count("001", AUTH_LOG, HOUR_AGO, NOW)
    assert "wazuh.agent.id" in str(sim.stats.last_search_body)


def test_terms_filter_limits_the_agents(indexer: httpx.Client) -> None:
    query = composite_query(HOUR_AGO, NOW, HOUR_AGO)
    query["query"]["bool"]["filter"].append({"terms": {"agent.id": ["002", "003", "999"]}})
    buckets = search(indexer, query)["aggregations"]["agents"]["buckets"]
    assert [b["key"]["agent"] for b in buckets] == ["002", "003"]


def test_terms_aggregation_orders_by_count_and_reports_the_rest(indexer: httpx.Client, fleet: Fleet) -> None:
    body = {
        "size": 0,
        "query": {"range": {"timestamp": {"gte": iso(HOUR_AGO), "lte": iso(NOW)}}},
        "aggs": {
            "agents": {"terms": {"field": "agent.id", "size": 2}, "aggs": {"last": {"max": {"field": "timestamp"}}}}
        },
    }
    agg = search(indexer, body)["aggregations"]["agents"]
    assert [b["key"] for b in agg["buckets"]] == ["003", "001"]
    rest = fleet.count("002", None, HOUR_AGO, NOW) + fleet.count("004", None, HOUR_AGO, NOW)
    assert agg["sum_other_doc_count"] == rest
    assert agg["doc_count_error_upper_bound"] == 0


def test_unsupported_queries_get_400_not_a_silent_zero(indexer: httpx.Client) -> None:
    response = indexer.post("/wazuh-alerts-4.x-*/_count", json={"query": {"wildcard": {"agent.id": "0*"}}})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "parsing_exception"
    unknown_field = {"query": {"term": {"rule.level": 3}}}
    assert indexer.post("/wazuh-alerts-4.x-*/_count", json=unknown_field).status_code == 400


def test_shard_failure_is_reported_in_the_answer(indexer: httpx.Client, sim: SimulatorServer) -> None:
    sim.faults.indexer_mode = "shard_failure"
    answer = search(indexer, composite_query(HOUR_AGO, NOW, HOUR_AGO))
    assert answer["_shards"]["failed"] == 1
    assert answer["_shards"]["failures"][0]["reason"]["type"]


def test_indexer_down_answers_503_cluster_block(indexer: httpx.Client, sim: SimulatorServer) -> None:
    sim.faults.indexer_mode = "down"
    response = indexer.post("/wazuh-alerts-4.x-*/_search", json=composite_query(HOUR_AGO, NOW, HOUR_AGO))
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "cluster_block_exception"


def test_indexer_unauthorized_mode_refuses_good_credentials(indexer: httpx.Client, sim: SimulatorServer) -> None:
    sim.faults.indexer_mode = "unauthorized"
    assert indexer.get("/").status_code == 401


# -- TLS ------------------------------------------------------------------------------------


def test_tls_with_a_trustme_ca_works_over_https(fleet: Fleet, clock: FakeClock) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with SimulatorServer(fleet, clock=clock, ssl_context=server_context) as sim:
        assert sim.api_url.startswith("https://") and sim.indexer_url.startswith("https://")
        with httpx.Client(base_url=sim.api_url, verify=client_context) as api:
            assert api.get("/", headers=bearer(login(api))).status_code == 200
        response = httpx.get(f"{sim.indexer_url}/", auth=("admin", "admin"), verify=client_context)
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{sim.indexer_url}/", auth=("admin", "admin"))


def test_a_count_for_one_agent_asks_the_fleet_about_that_agent_alone(
    indexer: httpx.Client, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The naive design's benchmark sends one such _count per agent: each must not cost a visit to every agent.
    asked: list[str] = []
    counted = fleet.count_ranges_ms

    def count_ranges_ms(agent_id: str, queries: list[tuple[list[str], int, int]]) -> list[int]:
        asked.append(agent_id)
        return counted(agent_id, queries)

    monkeypatch.setattr(fleet, "count_ranges_ms", count_ranges_ms)
    query = {"bool": {"filter": [{"term": {"agent.id": "002"}}, {"range": {"timestamp": {"gte": iso(HOUR_AGO)}}}]}}
    answer = indexer.post("/wazuh-alerts-4.x-*/_count", json={"query": query}).json()
    assert answer["count"] == fleet.count("002", None, HOUR_AGO, NOW)
    assert asked == ["002"]
