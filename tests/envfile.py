"""The env file the end-to-end tests hand to `log_monitor.py`: the simulator, a fake Slack, a folder."""

from __future__ import annotations

from pathlib import Path

from log_monitor.simulator.server import SimulatorServer
from tests.slack_server import SlackServer


def write_env(folder: Path, sim: SimulatorServer, slack: SlackServer, token: str, **extra: str) -> Path:
    """`folder/log_monitor.env` pointing at `sim` (default users) and `slack`; `extra` adds or replaces keys.

    A key given as "" is left out, so a test can drop a default.
    """
    values = {
        "WAZUH_API_URL": sim.api_url,
        "WAZUH_API_USER": "wazuh",
        "WAZUH_API_PASSWORD": "wazuh",
        "WAZUH_INDEXER_URL": sim.indexer_url,
        "WAZUH_INDEXER_USER": "admin",
        "WAZUH_INDEXER_PASSWORD": "admin",
        "AGENT_LIST_FILE": "agents.csv",
        "STATE_DB": "state.sqlite3",
        "SLACK_BOT_TOKEN": token,
        "SLACK_CHANNEL": "#soc",
        "SLACK_API_URL": slack.api_url,
        "LOG_FILE_PATH": "monitor.log",
    }
    values.update(extra)
    path = folder / "log_monitor.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items() if value != ""))
    return path
