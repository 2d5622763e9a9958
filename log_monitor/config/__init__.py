"""Settings from the env file: the only package reading the environment; re-exports Settings and load_settings.

Rules (docs/configuration.md is the user-facing version):

- The env file is read with `dotenv_values()` (no `${VAR}` expansion). Its values win; the process
  environment only fills keys the file leaves unset or empty. The original tool's `WAZUH_URL`,
  `USERNAME` and `PASSWORD` are read from the file only: `USERNAME` is set in many shells.
- A secret key `K` may be given as `K_FILE` instead; the file that gives `K` or `K_FILE` decides.
- Every relative path (written by the user or a built-in default such as `config/agents.csv`) is
  relative to `base_dir`: the parent of the env file's folder when that folder is named `env-files`
  (the project root, as the original tool's `extra-files/...` paths meant), else the env file's folder.
- With no env file named, `env-files/log_monitor.env` is read, or the original tool's
  `env-files/log_counter.env` when only that one exists.
- Every problem is collected and raised at once as ConfigError; each names the env file and the
  key, and never contains a secret value.
- KEYS is the one table of keys (name, Settings field, reader, default, meaning, secret?): it drives the
  reading, `Settings`' defaults (DEFAULTS, also the clients' keyword defaults), check-config's listing
  (`describe`), and the tests of docs/configuration.md and of the fuzzer. Rules between keys (legacy keys,
  backends given whole, SMTP and Slack partners) run after every key is read.

The modules, each with one job (at run time a module imports only those above it):

- `values`: one value's text parsed or checked (durations, agent ids, addresses, URLs, zones, paths);
- `shown`: a value as check-config and the messages show it (URLs masked);
- `legacy`: the original tool's keys folded into the modern ones;
- `keys`: KEYS, the table, and the readers it names; DEFAULTS; the nearest key to a misspelt one;
- `rules`: rules between keys, once every key is read;
- `settings`: the Settings record and `describe`;
- `envfile`: EnvHandler, one env file (python-dotenv) and the environment read key by key;
- `load`: `load_settings`, the entry point, and which env file is read when none is named;
- `environment`: what the process environment says besides (systemd's watchdog, the invoking user).

Most callers want only `Settings` and `load_settings`, re-exported here; the rest is imported from its module.
"""

from log_monitor.config.load import load_settings
from log_monitor.config.settings import Settings

__all__ = ["Settings", "load_settings"]
