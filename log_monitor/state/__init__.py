"""The SQLite state, one module per job; StateStore, the one name most callers use, is re-exported here.

schema (the migrations), database (the connection), codec (rows to models), store (StateStore: kept states, the
commit), history, outbox, channels, silences, positions (one class per group of tables), lock (the instance lock).
Every other name is imported from the module that owns it.
"""

from log_monitor.state.store import StateStore

__all__ = ["StateStore"]
