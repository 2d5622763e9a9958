"""OpenSearch's `filter_path` response filtering, as the simulator's answers need it."""

from __future__ import annotations

import fnmatch
from typing import Any

_DROPPED = object()


def filtered(answer: dict[str, Any], filter_path: str) -> dict[str, Any]:
    """The answer with only what the comma-separated dotted paths name (`*` matches one field name).

    As OpenSearch filters (its XContent filtering): arrays are passed through, a path that ends at an object keeps
    it whole, and an object or array left with nothing in it is left out, its parents too.
    """
    paths = [part.strip().split(".") for part in filter_path.split(",") if part.strip()]
    if not paths:
        return answer
    result = _filter(answer, paths)
    return result if isinstance(result, dict) else {}


def _filter(value: Any, paths: list[list[str]]) -> Any:
    if any(not path for path in paths):
        return value
    if isinstance(value, list):
        kept = [item for item in (_filter(v, paths) for v in value) if item is not _DROPPED]
        return kept if kept else _DROPPED
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        if any("*" in path[0] for path in paths):
            chosen = [(key, [p[1:] for p in paths if fnmatch.fnmatchcase(key, p[0])]) for key in value]
        else:  # plain names (the usual): looked up, not matched against every key
            wanted: dict[str, list[list[str]]] = {}
            for path in paths:
                wanted.setdefault(path[0], []).append(path[1:])
            chosen = [(key, rest) for key, rest in wanted.items() if key in value]
        for key, rest in chosen:
            if rest:
                found = _filter(value[key], rest)
                if found is not _DROPPED:
                    out[key] = found
        return out if out else _DROPPED
    return _DROPPED
