"""Entry point shim: `python log_monitor.py [command] [--env-file PATH]`."""

from log_monitor.cli import main

raise SystemExit(main())
