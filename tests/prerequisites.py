"""What `make test` needs beyond Python and make, checked first: one line naming what to install, not 40 failures.

Run as `python -m tests.prerequisites` (the Makefile does). Exit 0 when everything needed is there, else 1 with
one line on stderr. systemd's tools are needed in CI only (CI set: .ci/run installs them); elsewhere their
tests are skipped with a reason, and this says so in one line too.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC_HINT = "the Wazuh API spec (spec.yaml: put it at ../shared/wazuh or set WAZUH_SPEC_DIR)"


def spec_found(environ: dict[str, str], repo: Path = REPO) -> bool:
    """The spec folder as tests/conftest.py looks for it."""
    configured = environ.get("WAZUH_SPEC_DIR_FOR_TESTS") or environ.get("WAZUH_SPEC_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(repo.parent / "shared" / "wazuh")
    return any((candidate / "spec.yaml").is_file() for candidate in candidates)


def missing(
    environ: dict[str, str], find: Callable[[str], str | None] = shutil.which, repo: Path = REPO
) -> tuple[list[str], list[str]]:
    """(what the suite cannot run without, what only some tests need outside CI) as words for a person."""
    packages = [name for name in ("chromium", "tmux") if find(name) is None]
    needed = []
    if packages:
        needed.append(f"{' and '.join(packages)} (apt-get install -y --no-install-recommends {' '.join(packages)})")
    if not spec_found(environ, repo):
        needed.append(SPEC_HINT)
    systemd = [name for name in ("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles") if find(name) is None]
    optional = []
    if systemd:
        hint = f"{', '.join(systemd)} (apt-get install -y --no-install-recommends systemd)"
        if environ.get("CI"):
            needed.append(hint)  # CI must check deploy/ with systemd's own tools: missing is a failure there
        else:
            optional.append(hint)
    return needed, optional


def main() -> int:
    needed, optional = missing(dict(os.environ))
    skipped = f"the deploy/ checks are skipped without {'; '.join(optional)}" if optional else ""
    if needed:
        also = f" ({skipped})" if skipped else ""
        print(f"make test needs what is missing here: install {'; '.join(needed)}{also}", file=sys.stderr)
        return 1
    if skipped:
        print(f"make test: {skipped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
