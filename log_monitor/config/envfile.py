"""EnvHandler: one env file's values (python-dotenv), then the environment's, read key by key; problems recorded."""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from log_monitor.config.keys import KEYS, KNOWN_KEYS, discovery_groups, nearest_key
from log_monitor.config.legacy import LEGACY_FILE_ONLY_KEYS, fold_legacy
from log_monitor.config.rules import apply_schema, check_alerting, check_backends
from log_monitor.config.settings import Settings
from log_monitor.config.shown import shown_url
from log_monitor.config.values import parse_duration, resolve_path, valid_url
from log_monitor.errors import ConfigError
from log_monitor.hostcheck import unreadable
from log_monitor.models import Secret

ENV_FOLDER_NAME = "env-files"  # an env file in a folder of this name takes defaults from the folder above
# Secrets sent in an HTTP header as they are (a bearer token) or compared with one: printable ASCII, no space. A
# line break there makes the HTTP library refuse the request with the whole value in its error text.
TOKEN_KEYS = frozenset({"SLACK_BOT_TOKEN", "STATUS_TOKEN"})
MAX_SECRET_FILE_BYTES = 8192  # a token, password or webhook URL; a bigger *_FILE is not a secret file

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

T = TypeVar("T")


def _read_secret_file(path: Path) -> str:
    """A `*_FILE` secret: a regular file of at most MAX_SECRET_FILE_BYTES, read without waiting.

    ValueError says why another file is refused: a FIFO would block `check-config` and a reload for ever,
    `/dev/zero` would fill the memory.
    """
    # O_NONBLOCK: opening a FIFO with no writer would wait; the file is checked as opened, not by name first.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("is not a regular file")
        data = file.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_SECRET_FILE_BYTES} bytes")
    return data.decode("utf-8-sig")


def read_env_file(env_file: Path) -> dict[str, str]:
    if not env_file.exists():
        hidden = unreadable(env_file)  # a folder this user cannot search hides the file: say so, not "not found"
        problem = f"{env_file}: cannot read the env file: {hidden}" if hidden else f"env file not found: {env_file}"
        raise ConfigError([problem])
    if not env_file.is_file():
        raise ConfigError([f"{env_file}: not a file"])
    try:
        text = env_file.read_text(encoding="utf-8-sig")
    except PermissionError:
        why = unreadable(env_file) or "permission denied"
        raise ConfigError([f"{env_file}: cannot read the env file: {why}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{env_file}: cannot read the env file: {type(exc).__name__}"]) from None
    problems = [
        # The statement itself may hold a secret: name the line only.
        f"{env_file}: line {binding.original.line}: not a KEY=VALUE line"
        for binding in parse_stream(io.StringIO(text))
        if binding.error
    ]
    if problems:
        raise ConfigError(problems)
    raw = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in raw.items() if value is not None}


class EnvHandler:
    """One env file turned into Settings by the KEYS table: every accessor records problems instead of raising."""

    def __init__(self, env_file: Path, file_values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        self.env_file = env_file
        self.folder = Path(os.path.abspath(env_file)).parent
        self.base_dir = self.folder.parent if self.folder.name == ENV_FOLDER_NAME else self.folder
        self.file_values = {k: v.strip() for k, v in file_values.items()}
        self.environ = environ
        self.values: dict[str, Any] = {}  # key name -> value, filled in the order of KEYS
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.deprecations: list[str] = []

    # --- raw access -------------------------------------------------------------------------
    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.env_file}: {key}: {message}")

    def deprecated(self, message: str) -> None:
        """A warning about the original tool's keys or files (see Settings.deprecations)."""
        self.warnings.append(message)
        self.deprecations.append(message)

    def raw(self, key: str) -> str | None:
        """The key's value: the file's unless unset or empty there, then the environment's."""
        value = self.file_values.get(key)
        if value:
            return value
        if key in LEGACY_FILE_ONLY_KEYS:
            return None
        env_value = self.environ.get(key, "").strip()
        return env_value or None

    def parsed(self, key: str, default: T, convert: Callable[[str], T], expected: str) -> T:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError:
            self.problem(key, f"expected {expected}, got {value!r}")
            return default

    def non_log_locations(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """NON_LOG_LOCATIONS: the default list when the key is absent; set but empty counts every location."""
        key = "NON_LOG_LOCATIONS"
        if key in self.file_values:
            value: str | None = self.file_values[key]
        else:
            value = self.environ.get(key)
        if value is None:
            return default
        return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw(key)
        return default if value is None else value

    def secret(self, key: str) -> Secret | None:
        """`key` or `key_FILE`, from whichever source (file first, then environment) gives either."""
        file_key = f"{key}_FILE"
        sources: list[tuple[str, Mapping[str, str]]] = [("the env file", self.file_values)]
        if key not in LEGACY_FILE_ONLY_KEYS:
            sources.append(("the environment", self.environ))
        for where, values in sources:
            direct = values.get(key, "").strip()
            path_text = values.get(file_key, "").strip()
            if direct and path_text:
                self.problem(key, f"both {key} and {file_key} are set in {where}: give only one")
                return None
            if direct:
                return self._sendable(key, Secret(direct))
            if path_text:
                return self._sendable(key, self._secret_from_file(key, file_key, path_text))
        return None

    def _secret_from_file(self, key: str, file_key: str, path_text: str) -> Secret | None:
        path = self.user_path(path_text)
        if not path.exists():
            # Not the path: a secret written into the _FILE key by mistake would be printed here.
            self.problem(file_key, f"the file it names does not exist (value not shown: it may be the {key} itself)")
            return None
        try:
            content = _read_secret_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(file_key, f"cannot read the secret file for {key}: {path} ({type(exc).__name__})")
            return None
        except ValueError as exc:
            self.problem(file_key, f"the secret file for {key} {exc}: {path}")
            return None
        value = content.rstrip("\r\n")
        if not value.strip():
            self.problem(file_key, f"the secret file for {key} is empty: {path}")
            return None
        return Secret(value)

    def _sendable(self, key: str, secret: Secret | None) -> Secret | None:
        """The secret if an HTTP request (or SMTP login) can carry it; else a problem naming the key, not the value."""
        if secret is None:
            return None
        value = secret.reveal()
        if key in TOKEN_KEYS or key.endswith("_URL"):
            bad = next((i for i, c in enumerate(value) if not 33 <= ord(c) <= 126), None)
            allowed = "printable ASCII without spaces"
        else:
            bad = next((i for i, c in enumerate(value) if ord(c) < 32 or ord(c) == 127), None)
            allowed = "no control characters"
        if bad is None:
            return secret
        what = "a line break" if value[bad] in "\r\n" else f"character U+{ord(value[bad]):04X}"
        self.problem(key, f"holds {what} at position {bad + 1}, which HTTP cannot carry ({allowed}; value not shown)")
        return None

    def user_path(self, text: str) -> Path:
        """A path the user wrote: relative to base_dir, like the defaults."""
        return resolve_path(self.base_dir, text)

    def path(self, key: str) -> Path | None:
        value = self.raw(key)
        if value is None:
            return None
        path = self.user_path(value)
        if self.base_dir != self.folder and Path(value).parts[:1] == ("..",):
            # Until relative paths followed the original tool's rule, `../x` from env-files/ meant the
            # project's `x`; now it leaves the project: say so rather than quietly use another file.
            self.warnings.append(
                f"{self.env_file}: {key}={value} is relative to the project folder {self.base_dir} "
                f"(the folder above {ENV_FOLDER_NAME}/), so it means {path}; drop the '../' if you meant "
                f"{resolve_path(self.folder, value)}"
            )
        return path

    def path_or_default(self, key: str, default: str) -> Path:
        """A user's path, else the default; both relative to base_dir."""
        return self.path(key) or Path(os.path.abspath(self.base_dir / default))

    # --- typed accessors --------------------------------------------------------------------
    def duration(self, key: str, default: float, *, positive: bool = True) -> float:
        value = self.raw(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return default
        if positive and seconds <= 0:
            self.problem(key, f"expected a duration greater than zero, got {value!r}")
            return default
        return seconds

    def number(self, key: str, default: float, low: float, high: float, *, low_open: bool, expected: str) -> float:
        def convert(text: str) -> float:
            number = float(text)
            if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
                raise ValueError(text)
            return number

        return self.parsed(key, default, convert, expected)

    def whole(self, key: str, default: int, low: int, high: int, expected: str) -> int:
        def convert(text: str) -> int:
            number = int(text)
            if not low <= number <= high:
                raise ValueError(text)
            return number

        return self.parsed(key, default, convert, expected)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        def convert(text: str) -> str:
            if text.lower() not in choices:
                raise ValueError(text)
            return text.lower()

        return self.parsed(key, default, convert, "one of " + ", ".join(choices))

    def boolean(self, key: str, default: bool) -> bool:
        def convert(text: str) -> bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)

        return self.parsed(key, default, convert, "true or false")

    def url(self, key: str, default: str | None = None, *, value: str | None = None) -> str | None:
        value = value if value is not None else self.raw(key)
        if value is None:
            return default
        if not valid_url(value):
            self.problem(key, f"expected an http:// or https:// URL with a host, got {shown_url(value)!r}")
            return default
        return value

    def urls(self, key: str) -> str | None:
        """A comma-separated list of URLs (a cluster's nodes), each checked; given back joined by commas."""
        value = self.raw(key)
        if value is None:
            return None
        parts = [part.strip() for part in value.split(",")]
        bad = [part for part in parts if not valid_url(part)]
        if bad:
            many = " (a list of the cluster's nodes is separated by commas)" if len(parts) > 1 else ""
            self.problem(key, f"expected http:// or https:// URLs with a host{many}, got {shown_url(bad[0])!r}")
            return None
        return ",".join(parts)

    def secret_url(self, key: str) -> Secret | None:
        secret = self.secret(key)
        if secret is not None and not valid_url(secret.reveal()):
            # The URL itself is the secret (webhooks): never show it.
            self.problem(key, "expected an http:// or https:// URL with a host (value not shown: it is a secret)")
            return None
        return secret

    # --- the whole pass ---------------------------------------------------------------------
    def load(self) -> Settings:
        for name in self.file_values:
            if name in KNOWN_KEYS:
                continue
            meant = nearest_key(name)
            if meant is not None:
                # A misspelt key would otherwise be ignored, and its feature (often the alert channel) silently off.
                self.problem(name, f"unknown key; did you mean {meant}?")
            else:
                self.warnings.append(f"{self.env_file}: {name}: unknown key, ignored (a typo?)")
        for key in KEYS:
            self.values[key.name] = key.read(self, key)
        fold_legacy(self)
        apply_schema(self)
        check_backends(self)
        check_alerting(self)
        fields = {
            key.field: key.default if self.values[key.name] is None else self.values[key.name]
            for key in KEYS
            if key.field is not None
        }
        if self.problems:
            raise ConfigError(self.problems)
        groups = discovery_groups(self)
        if self.problems:
            raise ConfigError(self.problems)
        return Settings(
            env_file=self.env_file,
            base_dir=self.base_dir,
            discovery_groups=groups,
            warnings=tuple(self.warnings),
            deprecations=tuple(self.deprecations),
            **fields,
        )

    def addresses(self) -> tuple[str, ...]:
        value = self.raw("SMTP_TO")
        if value is None:
            return ()
        addresses = tuple(a.strip() for a in value.split(",") if a.strip())
        bad = [a for a in addresses if "@" not in a]
        if bad or not addresses:
            self.problem("SMTP_TO", f"expected comma-separated email addresses, got {value!r}")
            return ()
        return addresses
