"""load_settings: the env file named, or the default one, read into Settings or one ConfigError naming every problem."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from log_monitor.config.envfile import EnvHandler, read_env_file
from log_monitor.config.settings import Settings

DEFAULT_ENV_FILE = Path("env-files/log_monitor.env")
LEGACY_ENV_FILE = Path("env-files/log_counter.env")  # the original tool's, read when DEFAULT_ENV_FILE is absent


def default_env_file(cwd: Path | None = None) -> tuple[Path, str | None]:
    """The env file read when none is named, and a note when it is the original tool's one."""
    folder = cwd or Path.cwd()
    if not (folder / DEFAULT_ENV_FILE).exists() and (folder / LEGACY_ENV_FILE).is_file():
        return LEGACY_ENV_FILE, (
            f"{LEGACY_ENV_FILE}: read because {DEFAULT_ENV_FILE} does not exist (the original tool's file; "
            f"rename it to {DEFAULT_ENV_FILE.name} to silence this)"
        )
    return DEFAULT_ENV_FILE, None


def load_settings(env_file: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the env file; raise ConfigError listing every problem at once.

    `env_file` None means the default one (see `default_env_file`). `environ` None means the process
    environment; it only fills keys the file does not set.
    """
    note = None
    if env_file is None:
        env_file, note = default_env_file()
    env_file = Path(env_file)
    if environ is None:
        environ = os.environ
    file_values = read_env_file(env_file)
    handler = EnvHandler(env_file, file_values, environ)
    if note is not None:
        handler.deprecated(note)
    return handler.load()
