"""The exit codes of DESIGN.md: 0 done, 3 unknown, 64 usage, 75 locked, 78 configuration (`once` adds 1 and 2)."""

EXIT_OK = 0
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
EXIT_LOCKED = 75  # EX_TEMPFAIL: another instance holds the state DB's lock
EXIT_CONFIG = 78
