"""Benchmarks run by `make bench`; figures go to benchmarks/results.json."""

# The daemon imports log_monitor before httpx (`log_monitor.py`, `python -m log_monitor`): so do the benchmarks,
# whose memory figures are the daemon's (log_monitor/__init__.py keeps httpx's command-line client out).
import log_monitor  # noqa: F401
