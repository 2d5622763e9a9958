"""log_monitor: detects Wazuh agents and log files that have fallen silent and alerts on it."""

__version__ = "0.1.0"
