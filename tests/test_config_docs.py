"""docs/configuration.md against config's KEYS table: every key documented, no documented key unknown."""

from __future__ import annotations

import re
from pathlib import Path

from log_monitor.config.keys import KEYS, SECRET_KEYS

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
KEY_NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _documented_keys() -> list[str]:
    """The names in the first column of the Keys table (a row may name several keys)."""
    names: list[str] = []
    for line in _section("Keys").splitlines():
        if line.startswith("| `"):
            names.extend(KEY_NAME.findall(line.split("|")[1]))
    return names


def test_the_keys_table_of_the_docs_lists_every_key_of_the_config_table_once() -> None:
    documented = _documented_keys()
    assert sorted(documented) == sorted(set(documented)), "a key documented twice"
    table = {key.name for key in KEYS}
    assert sorted(table - set(documented)) == [], "keys log_monitor reads but the docs do not list"
    assert sorted(set(documented) - table) == [], "keys the docs list but log_monitor does not read"


def test_the_docs_name_every_secret_key_that_may_be_given_as_a_file() -> None:
    paragraph = next(p for p in _section("How values are found").split("\n- ") if p.startswith("**Secrets**"))
    listed = KEY_NAME.findall(paragraph.partition(") may instead")[0])
    assert sorted(listed) == sorted(SECRET_KEYS)
