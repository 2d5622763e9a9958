"""DESIGN.md's module map holds: imports point one way, only config reads the environment."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "log_monitor"

# Lower layers never import higher ones; a module may import its own layer or any lower one.
LAYERS: list[set[str]] = [
    {"models", "errors", "clock", "closing", "printable", "dropwords", "exitcodes"},
    {"policy", "judge", "view", "scheduler", "logsetup", "config", "simulator", "accesslog", "patterns", "linecount"}
    | {"findings"}
    | {"httpboundary", "httpserve", "ratechart", "ledger", "changes", "hostcheck", "reenrol", "rhythm"},
    {"targets", "routes", "state", "wazuh", "notifiers", "notifiers.base", "notifiers.render", "heartbeat", "sdnotify"}
    | {"notifiers.http"},
    {"notifiers.console", "notifiers.slack", "notifiers.smtp", "notifiers.teams", "notifiers.dispatch", "sources"}
    | {"notifiers.webhook", "notifiers.pagerduty", "notifiers.syslog"},
    {"monitor", "liveness"},
    {"app", "daemon", "demo", "status", "top"},
    {"reports", "checkconfig"},
    {"cli"},
]
# The state package's rooms: which of its own modules each may import. The tables (history, outbox, channels,
# silences, positions) share the connection (database) and the codec, never one another; only the store composes
# them; the lock takes from the database the file's permissions and identity, nothing else.
STATE_TABLES = {"state.history", "state.outbox", "state.channels", "state.silences", "state.positions"}
STATE_ROOMS: dict[str, set[str]] = {
    "state": {"state.store"},
    "state.schema": set(),
    "state.codec": set(),
    "state.database": {"state.schema"},
    **{table: {"state.codec", "state.database"} for table in STATE_TABLES},
    "state.store": {"state.codec", "state.database"} | STATE_TABLES,
    "state.lock": {"state.database"},
}
# Pure modules import nothing from outside the standard library.
PURE = {"models", "policy", "judge", "view", "scheduler", "accesslog", "patterns", "printable"}
PURE |= {"dropwords", "ratechart", "closing", "ledger", "changes", "reenrol", "rhythm", "exitcodes"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__") or "__init__"
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if module == entry or module.startswith(entry + "."):
                return index
    raise AssertionError(f"log_monitor.{module} is in no layer of the module map: add it to LAYERS")


def _own(name: str) -> str | None:
    if name.startswith("log_monitor."):
        module = name.removeprefix("log_monitor.")
        modules = _modules()
        while module and module not in modules:
            module = module.rpartition(".")[0]
        return module or None
    return None


MODULES = sorted(m for m in _modules() if m != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_point_down_the_module_map(module: str) -> None:
    mine = _layer(module)
    for name in _imports(_modules()[module]):
        target = _own(name)
        if target is None or target in ("__init__", module):
            continue
        if module.startswith("simulator"):
            # The simulator stands alone (it is shipped for the demo): only the base layer is shared.
            allowed = target.startswith("simulator") or target in LAYERS[0]
            assert allowed, f"the simulator stands alone, but {module} imports {target}"
        assert _layer(target) <= mine, f"log_monitor.{module} imports log_monitor.{target}, which is above it"


# The simulator's rooms (docs/architecture.md): the Wazuh API's and the indexer's never import each other; both
# stand on the shared plumbing; only the pair (`simulator.server`) puts them together. Outside the simulator, the
# code starts it through its entry points only.
SIMULATOR_ROOMS = {
    "shared": {"simulator.httpd", "simulator.faults", "simulator.stats", "simulator.fleet"},
    "api": {"simulator.api", "simulator.apiendpoints", "simulator.apiquery", "simulator.tokens"},
    "indexer": {"simulator.indexer", "simulator.search", "simulator.documents", "simulator.querydsl"}
    | {"simulator.filterpath"},
    "tools": {"simulator.sinks", "simulator.traffic"},
    "pair": {"simulator", "simulator.server"},
}
SIMULATOR_MAY_IMPORT = {
    "shared": {"shared"},
    "api": {"shared", "api"},
    "indexer": {"shared", "indexer"},
    "tools": {"shared", "tools"},
    "pair": set(SIMULATOR_ROOMS),
}
SIMULATOR_ENTRY_POINTS = {"simulator.server", "simulator.fleet", "simulator.sinks", "simulator.traffic"}


def _simulator_room(module: str) -> str:
    rooms = [room for room, members in SIMULATOR_ROOMS.items() if module in members]
    assert len(rooms) == 1, f"log_monitor.{module} is in no room of the simulator's map: add it to SIMULATOR_ROOMS"
    return rooms[0]


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m.startswith("simulator")))
def test_the_simulators_api_and_indexer_rooms_never_import_each_other(module: str) -> None:
    room = _simulator_room(module)
    for name in _imports(_modules()[module]):
        target = _own(name)
        if target is None or target == module or not target.startswith("simulator"):
            continue
        target_room = _simulator_room(target)
        assert target_room in SIMULATOR_MAY_IMPORT[room], f"{module} ({room}) imports {target} ({target_room})"


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("simulator")])
def test_code_outside_the_simulator_uses_only_its_entry_points(module: str) -> None:
    for name in _imports(_modules()[module]):
        target = _own(name) or ""
        if target.startswith("simulator"):
            assert target in SIMULATOR_ENTRY_POINTS, f"{module} imports {target}, a room inside the simulator"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_import_only_the_standard_library(module: str) -> None:
    for name in _imports(_modules()[module]):
        top = name.split(".")[0]
        if top == "log_monitor":
            assert _own(name) in {"models", "errors", "clock"} | PURE, f"{module} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", f"{module} imports {name}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("notifiers.")))
def test_notifiers_never_import_each_other_config_or_wazuh(module: str) -> None:
    for name in _imports(_modules()[module]):
        target = _own(name) or ""
        assert not target.startswith(("config", "wazuh", "targets")), f"{module} imports {name}"
        if target.startswith("notifiers.") and module != "notifiers.dispatch":
            assert target in {"notifiers.base", "notifiers.render", "notifiers.http"}, f"{module} imports {name}"


# The config package reads settings: besides its own modules, only the base layer and the file boundary.
CONFIG_MAY_IMPORT = {"models", "errors", "hostcheck"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m == "config" or m.startswith("config.")))
def test_config_imports_nothing_that_observes_judges_or_runs_the_monitor(module: str) -> None:
    for name in _imports(_modules()[module]):
        target = _own(name)
        if target is None or target == "config" or target.startswith("config."):
            continue
        assert target in CONFIG_MAY_IMPORT, f"log_monitor.{module} imports log_monitor.{target}"


def test_every_module_of_the_state_package_has_its_room() -> None:
    assert {m for m in MODULES if m == "state" or m.startswith("state.")} == set(STATE_ROOMS)


@pytest.mark.parametrize("module", sorted(STATE_ROOMS))
def test_state_modules_import_only_the_rooms_they_build_on(module: str) -> None:
    for name in _imports(_modules()[module]):
        target = _own(name) or ""
        if target.startswith("state.") and target != module:
            assert target in STATE_ROOMS[module], f"log_monitor.{module} imports log_monitor.{target}"


@pytest.mark.parametrize("module", MODULES)
def test_only_config_reads_the_environment(module: str) -> None:
    if module == "config" or module.startswith("config."):
        return
    source = _modules()[module].read_text()
    for needle in ("os.environ", "os.getenv", "getenv("):
        assert needle not in source, f"{module} reads the environment ({needle}); only config may"


@pytest.mark.parametrize("module", [*MODULES, "__init__"])
def test_every_module_says_what_it_is_for_in_one_line(module: str) -> None:
    doc = ast.get_docstring(ast.parse(_modules()[module].read_text()))
    assert doc, f"log_monitor.{module} has no docstring"
    assert len(doc.splitlines()[0]) <= 120


MAX_FUNCTION_LINES = 60  # issue 14: a function that needs more is doing two jobs


def test_no_function_in_the_package_is_longer_than_60_lines() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({size} lines)")
    assert long == []


def test_the_daemon_and_cron_once_start_without_rich_or_the_simulator() -> None:
    # `top` and `demo`/`simulate` import them in their commands: every other start skips ~50 ms of imports.
    heavy = ("rich.", "log_monitor.top", "log_monitor.demo", "log_monitor.simulator")
    # As installed for production (requirements.txt): without click, which the dev tools bring (mutmut) and
    # with which httpx's own command line (click, pygments, rich) comes in on `import httpx`.
    code = "import sys; sys.modules['click'] = None; import log_monitor.cli; "
    code += f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# The status server's rooms (docs/architecture.md): the documents and charts build JSON, metrics the Prometheus
# text, http serves them. Each imports only the rooms listed; only http speaks HTTP, only metrics Prometheus.
STATUS_ROOMS: dict[str, set[str]] = {
    "status.documents": set(),
    "status.charts": {"status.documents"},
    "status.metrics": {"status.documents"},
    "status.http": {"status.documents", "status.charts", "status.metrics"},
}
_HTTP_MODULES = ("http", "socketserver", "httpserve", "httpx")


def test_every_status_module_is_a_room_of_the_map() -> None:
    found = {m for m in MODULES if m.startswith("status.")}
    assert found == STATUS_ROOMS.keys(), "a new module of log_monitor.status: give it a room in STATUS_ROOMS"


@pytest.mark.parametrize("room", sorted(STATUS_ROOMS))
def test_status_rooms_import_only_the_rooms_below_them(room: str) -> None:
    for name in _imports(_modules()[room]):
        target = _own(name) or ""
        if target.startswith("status.") and target != room:
            assert target in STATUS_ROOMS[room], f"log_monitor.{room} imports log_monitor.{target}"
        top = name.removeprefix("log_monitor.").split(".")[0]
        if room != "status.http":
            assert top not in _HTTP_MODULES, f"only status.http serves HTTP, but {room} imports {name}"
        if room != "status.metrics":
            assert top != "prometheus_client", f"only status.metrics writes Prometheus text, but {room} imports {name}"
