"""log_monitor: detects Wazuh agents and log files that have fallen silent and alerts on it."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client (`httpx._main`: click, rich, pygments) whenever click is installed, as a
# development machine's is: 6 MB of a daemon's memory for a program it never runs. A module set to None is one
# Python's import system refuses (ModuleNotFoundError), and httpx then goes without its command line, as it does
# where click is absent.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
