"""The one-off pass end to end: env file and agents.csv in, simulator and fake Slack on loopback, exit code out."""

from __future__ import annotations

import io
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from log_monitor.app import Tuning
from log_monitor.cli import main
from log_monitor.simulator.server import SimulatorServer
from tests import cli_rig
from tests.cli_rig import AGENTS, API_PASSWORD, INDEXER_PASSWORD, SLACK_TOKEN, Rig, fleet_of_three
from tests.slack_server import SlackServer

rig = cli_rig.rig  # the simulator, fake Slack and env file of the one-off pass


def test_all_agents_sending_is_ok_with_no_message(rig: Rig) -> None:
    result = rig.run()
    assert result.code == 0, result.err
    assert rig.slack.messages == []
    assert "db-primary" in result.out


def test_silent_agent_sends_exactly_one_slack_message_naming_it_and_exits_2(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    result = rig.run()
    assert result.code == 2, result.err
    assert len(rig.slack.messages) == 1
    text = str(rig.slack.messages[0])
    assert "002" in text
    assert "db-primary" in text
    assert "silent" in text.lower()
    assert "CRITICAL" in text


def test_control_characters_in_a_label_are_shown_escaped_and_cannot_break_the_summary_table(rig: Rig) -> None:
    hostile = "web\x1b[31mred\x85forged\u2028x\tz"  # (a \r would end the CSV line: files are read as text)
    (rig.folder / "agents.csv").write_text(AGENTS.replace("web-frontend", hostile))
    result = rig.run()
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\t" not in result.out
    lines = result.out.splitlines()  # splits at \r, \x85 and \u2028 too: a forged line would show here
    [row] = [line for line in lines if "web" in line]
    assert row.startswith("agent:001") and "web\\x1b[31mred\\x85forged\\u2028x\\tz" in row
    assert len(lines) == 1 + 3 + 2  # header, one row per agent, blank line, summary


def test_second_pass_sends_no_duplicate(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    assert rig.run().code == 2
    second = rig.run()
    assert second.code == 2
    assert len(rig.slack.messages) == 1


def test_silence_beyond_the_threshold_but_below_critical_exits_1(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=7))
    result = rig.run()
    assert result.code == 1, result.err
    assert "WARNING" in str(rig.slack.messages)


def test_disconnected_agent_is_reported_as_disconnected_not_silent(rig: Rig) -> None:
    rig.fleet.silence("003", since=rig.now - timedelta(minutes=40))
    rig.fleet.set_status("003", "disconnected", last_keepalive=rig.now - timedelta(minutes=40))
    assert rig.run().code == 2
    assert "disconnected" in str(rig.slack.messages).lower()


def test_agent_never_seen_in_lookback_is_reported_not_skipped(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text(AGENTS + "042,ghost-host,5m\n")
    result = rig.run()
    assert result.code == 2
    assert "042" in str(rig.slack.messages)


def test_indexer_down_exits_3_without_any_per_agent_silent_alert(rig: Rig) -> None:
    rig.sim.faults.indexer_mode = "down"
    result = rig.run()
    assert result.code == 3
    assert "indexer" in result.err
    for message in rig.slack.messages:
        text = str(message)
        assert "db-primary" not in text
        assert "web-frontend" not in text


def test_shard_failures_are_unknown_not_silence(rig: Rig) -> None:
    rig.sim.faults.indexer_mode = "shard_failure"
    assert rig.run().code == 3


def test_the_original_tools_env_file_still_works(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    (rig.folder / "agents.csv").write_text("001\n002\n003\n")
    legacy = rig.folder / "legacy.env"
    legacy.write_text(
        f"WAZUH_URL={rig.sim.indexer_url}/wazuh-alerts-4.x-*/_count\n"
        "USERNAME=admin\n"
        f"PASSWORD={INDEXER_PASSWORD}\n"
        "DEFAULT_CHECK_INTERVAL=10\n"
        "AGENT_CHECK_INTERVALS=001:10,2:5\n"
        "AGENT_LIST_FILE=agents.csv\n"
        "STATE_DB=state.sqlite3\n"
        f"SLACK_BOT_TOKEN={SLACK_TOKEN}\nSLACK_CHANNEL=#soc\nSLACK_API_URL={rig.slack.api_url}\n"
        "LOG_FILE_PATH=monitor.log\n"
    )
    result = rig.run(env=legacy)
    assert result.code == 2, result.err
    assert len(rig.slack.messages) == 1
    assert "002" in str(rig.slack.messages)
    log_text = (rig.folder / "monitor.log").read_text()
    assert "deprecated" not in log_text  # a cron pass is no place for it; check-config and the daemon say it
    assert "WAZUH_INDEXER_URL" in rig.run("check-config", env=legacy).out  # the warning names the modern key


def test_a_username_in_the_shell_does_not_override_the_file(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERNAME", "someone-else")
    legacy = rig.folder / "legacy.env"
    legacy.write_text(
        f"WAZUH_URL={rig.sim.indexer_url}/wazuh-alerts-4.x-*/_count\nUSERNAME=admin\nPASSWORD={INDEXER_PASSWORD}\n"
        "AGENT_LIST_FILE=agents.csv\nSTATE_DB=state.sqlite3\n"
    )
    result = rig.run(env=legacy)
    assert result.code == 0, result.err


def test_a_malformed_agents_line_exits_78_naming_file_and_line_without_traceback(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text("# our agents\nagent_id,label\n001,web\nabc,broken\n")
    result = rig.run()
    assert result.code == 78
    assert "agents.csv" in result.err
    assert ":4" in result.err or "line 4" in result.err
    assert "Traceback" not in result.err + result.out


def test_a_bad_env_value_exits_78_naming_the_key(rig: Rig) -> None:
    result = rig.run(env=rig.env(WAZUH_API_MAX_RPM="lots", CRITICAL_MULTIPLIER="x"))
    assert result.code == 78
    assert "WAZUH_API_MAX_RPM" in result.err
    assert "CRITICAL_MULTIPLIER" in result.err  # every problem at once
    assert "log_monitor.env" in result.err
    assert "Traceback" not in result.err


def test_an_unknown_option_is_a_usage_error_64(rig: Rig) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--no-such-flag"], stdout=out, stderr=err) == 64
    assert "usage" in err.getvalue()


def test_no_secret_appears_in_output_log_or_messages(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    rig.run()
    rig.sim.faults.indexer_mode = "down"
    # One attempt per request: a retry says nothing more, it only waits out the backoff (1.5 s a run).
    once = Tuning(backend_retries=1)
    rig.run(tuning=once)
    rig.run("check-config", "--connect", tuning=once)
    bad = rig.run(env=rig.env(WAZUH_API_PASSWORD="wrong-" + API_PASSWORD), tuning=once)
    everything = bad.out + bad.err + str(rig.slack.messages) + (rig.folder / "monitor.log").read_text()
    for secret in (API_PASSWORD, INDEXER_PASSWORD, SLACK_TOKEN):
        assert secret not in everything


def test_check_config_connect_logs_in_to_each_backend_and_slack(rig: Rig) -> None:
    result = rig.run("check-config", "--connect")
    assert result.code == 0, result.out + result.err
    assert "Wazuh API" in result.out
    assert "Wazuh indexer" in result.out
    assert "slack" in result.out


def test_check_config_connect_exits_3_when_a_backend_refuses(rig: Rig) -> None:
    result = rig.run("check-config", "--connect", env=rig.env(WAZUH_INDEXER_PASSWORD="wrong"))
    assert result.code == 3
    assert "FAILED" in result.out


@pytest.fixture
def tls_rig(tmp_path: Path) -> Iterator[tuple[Rig, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    now = datetime.now(UTC)
    fleet = fleet_of_three(now)
    (tmp_path / "agents.csv").write_text(AGENTS)
    with (
        SimulatorServer(
            fleet,
            api_users={"wazuh": API_PASSWORD},
            indexer_users={"admin": INDEXER_PASSWORD},
            ssl_context=context,
        ) as sim,
        SlackServer(token=SLACK_TOKEN, channels=("#soc",)) as slack,
    ):
        yield Rig(tmp_path, fleet, sim, slack, now), bundle


def test_tls_is_verified_against_the_verification_file(tls_rig: tuple[Rig, Path]) -> None:
    rig, bundle = tls_rig
    assert rig.sim.api_url.startswith("https://")
    assert rig.run(env=rig.env(VERIFICATION_FILE=str(bundle))).code == 0


def test_tls_without_the_ca_is_refused_and_unknown(tls_rig: tuple[Rig, Path]) -> None:
    rig, _ = tls_rig
    result = rig.run()
    assert result.code == 3
    assert "indexer" in result.err


def test_status_shows_each_target_with_its_state_and_alerts_sent(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    rig.run()
    result = rig.run("status")
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith("agent:002"))
    assert "CRITICAL" in row
    assert "silent" in row
    assert "agent:001" in result.out


def test_silence_holds_back_the_alert_and_unsilence_lets_it_out(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    silenced = rig.run("silence", "db-primary", "--for", "2h", "--reason", "patching")
    assert silenced.code == 0, silenced.err
    assert "agent:002" in silenced.out
    assert rig.run().code == 0  # in maintenance: shown, not alerted, exit OK
    assert rig.slack.messages == []
    assert rig.run("unsilence", "2").code == 0
    assert rig.run().code == 2
    assert len(rig.slack.messages) == 1


def test_silence_of_an_unknown_target_is_a_usage_error(rig: Rig) -> None:
    result = rig.run("silence", "no-such-host", "--for", "1h")
    assert result.code == 64
    assert "no-such-host" in result.err


def test_test_alert_reports_each_channel_and_fails_when_one_does(rig: Rig) -> None:
    ok = rig.run("test-alert")
    assert ok.code == 0
    assert "slack: ok" in ok.out
    assert len(rig.slack.messages) == 1
    bad = rig.run("test-alert", env=rig.env(SLACK_BOT_TOKEN="xoxb-wrong-token"))
    assert bad.code == 1
    assert "permanent" in bad.out


def test_once_runs_a_few_seconds_apart_read_only_the_new_seconds(rig: Rig) -> None:
    env = rig.env()
    first = rig.run("once", env=env)
    assert first.code == 0, first.err
    backfill = rig.sim.stats.indexer_docs_visited
    started = time.monotonic()
    time.sleep(1.0)  # two processes a second apart, as cron's are minutes apart
    again = rig.run("once", env=env)
    assert again.code == 0, again.err
    elapsed = time.monotonic() - started + 1.0
    # Three agents of 12 events a minute: two hours at first (4,320), then the new seconds and the delay.
    assert backfill >= 4300
    assert rig.sim.stats.indexer_docs_visited - backfill <= (elapsed + 30) * 36 / 60 + 3
