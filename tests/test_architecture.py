"""The shape of the package: public names pinned, dependencies one way, small modules.

The import graph is read from the source (every ``import`` statement, those under
``TYPE_CHECKING`` and inside functions too), so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "openagi_nb"
MAX_LINES = 400
NAMEDTUPLE_API = {"_replace", "_asdict", "_make", "_fields"}  # public despite the underscore

PUBLIC = {
    "openagi_nb": [
        "AuthenticationFailed", "Capture", "CaptureError", "Channel", "ConnectionFailed",
        "Dataset", "EventStream", "Gap", "InvalidMessage", "InvalidToken", "LiveFrame",
        "MessageType", "NotebookFailed",
        "OpenAGIError", "ProtocolError", "ReportError", "ScenarioError", "ServerConfigError",
        "Severity",
        "State", "StreamError", "StreamStats", "StreamTimeout", "TokenRefused",
        "TokenRequestFailed", "__version__", "analysis", "fetch_token", "generate", "load_capture",
        "open_dataset", "record", "serve", "widgets",
    ],
    "openagi_nb.model": [
        "API_ROOT", "ArrowBatch", "BINARY", "BatchFormat", "BatchSettings", "CATALOGUE", "CHANNELS",
        "CHANNEL_OF_TYPE", "CLOSE", "CONTINUATION", "Channel", "Clock", "CloseCode", "Column",
        "Compression", "ControlMessage", "DataMessage", "ErrorCode", "ErrorMessage", "Field",
        "FrameParser", "Kind", "MAX_BATCH_DELAY_MS", "MAX_BATCH_EVENTS", "MAX_MESSAGE", "Message",
        "MessageType", "PHASES", "PING", "PONG", "Row", "SEVERITIES", "STATUSES", "STATUS_PATH",
        "Severity", "TEXT", "TOKEN_PATH", "TYPE_OF_CHANNEL", "UNSENDABLE", "WS_PATH", "arrow_batch",
        "arrow_frame", "arrow_schema", "arrow_table", "assemble", "batch_request", "batching",
        "build_frame", "clock_time", "close_payload", "column_name", "columns", "conform",
        "data_message", "decode", "dtypes", "empty_frame", "encode", "error", "flatten",
        "format_timestamp", "from_arrow", "from_codes", "from_nanoseconds", "from_numpy",
        "from_string_codes", "from_values", "json_batch", "message_type", "messages_of", "missing",
        "parse", "parse_batch_request", "parse_batching", "parse_clock", "parse_close",
        "parse_timestamp", "ping", "pong", "read_arrow_batch", "split_json_batch", "subscribe",
        "subscribed", "text_frame", "to_frame", "unsubscribe", "unsubscribed",
    ],
    "openagi_nb.stream": [
        "ALL", "Arrays", "EventStream", "Gap", "LiveFrame", "State", "StreamStats", "Window",
        "fetch_token", "record",
    ],
    "openagi_nb.capture": [
        "Capture", "CaptureWriter", "Dataset", "StrPath", "convert", "iter_lines",
        "load_capture", "open_dataset", "pieces", "summarize",
    ],
    "openagi_nb.scenario": [
        "CLASSIC_LIMIT", "DEFAULT_START", "ENGINES", "Engine", "Generation", "Incident",
        "MIN_DURATION", "MIN_NODES", "PLANNED", "Planned", "Scenario", "Window",
        "counts_markdown", "durations_markdown", "export", "generate", "incidents_markdown",
        "is_dataset_path", "metrics_markdown", "placed", "shortest_durations", "write",
    ],
    "openagi_nb.server": ["BackgroundServer", "ReplayServer", "ServeOptions", "parse_speed",
                          "serve"],
    "openagi_nb.analysis": [
        "AuditReport", "anomalies", "audit", "breaches", "bursts", "certificates", "churn",
        "consensus", "incidents", "membership", "metrics", "network", "parameter_history",
        "partitions", "phase_latencies", "proposals", "quorum_violations", "resample",
        "security", "summary", "timeline", "top_sources", "unblocked", "view_changes",
    ],
    "openagi_nb.pages": ["DashboardPage", "REPORTS", "dashboard", "report"],
    "openagi_nb.widgets": [
        "Dashboard", "LiveFigure", "dashboard", "live_consensus", "live_metrics",
        "live_network", "live_security", "plot_breaches", "plot_membership", "plot_metric",
        "plot_proposals", "plot_security_timeline", "plot_top_sources",
    ],
}

# What each role may import of the package (DESIGN.md's architecture: dependencies point down);
# every role may use the exception tree, the lazy loader of public names and the size parser.
BASE = {"exceptions", "_lazy", "sizes"}
ALLOWED = {
    "model": {"model", "exceptions"},
    "capture": {"capture", "model", "exceptions"},
    "scenario": {"scenario", "capture", "model", "exceptions"},
    "server": {"server", "capture", "model", "exceptions", "durations"},
    "stream": {"stream", "capture", "model", "exceptions", "durations"},
    "analysis": {"analysis", "model", "exceptions", "durations"},
    "widgets": {"widgets", "analysis", "stream", "model", "exceptions", "durations"},
    "pages": {"pages", "widgets", "analysis", "stream", "capture", "model", "exceptions",
              "durations"},
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


NAMES = dict(modules())


def imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from . import x`` imports the module x
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in NAMES else base)
    return {m for m in found if m in NAMES and m != name}


GRAPH = {name: imports(name, path) for name, path in NAMES.items()}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned_sorted_and_exist(package):
    module = importlib.import_module(package)
    assert module.__all__ == PUBLIC[package]
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_no_module_imports_another_in_a_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] if dep in path else [dep]
                pytest.fail(f"import cycle: {' -> '.join([*cycle, dep])}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_dependencies_point_down(role):
    wrong = {
        f"{name} imports {dep}"
        for name, deps in GRAPH.items() if name.split(".")[1:2] == [role]
        for dep in deps if dep.split(".")[1] not in ALLOWED[role] | BASE
    }
    assert not wrong


def test_the_scenario_generator_imports_nothing_of_the_server():
    assert not {d for n, deps in GRAPH.items() if n.startswith("openagi_nb.scenario")
                for d in deps if d.startswith("openagi_nb.server")}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_no_module_is_over_400_lines(name):
    assert len(NAMES[name].read_text().splitlines()) <= MAX_LINES


def test_implementation_modules_are_private():
    """A module of a role's package is underscored unless it is a namespace users call
    (``analysis.metrics``) or a widget module: the package's ``__init__`` states the API."""
    public_modules = {n for n in NAMES if n.count(".") == 2
                      and n.split(".")[1] in {"model", "stream", "capture", "scenario", "server"}
                      and not n.rpartition(".")[2].startswith("_")}
    assert not public_modules


def test_nothing_touches_a_private_attribute_of_websocket_client():
    for name, path in NAMES.items():
        tree = ast.parse(path.read_text())
        if not any(isinstance(n, ast.Import) and any(a.name == "websocket" for a in n.names)
                   for n in ast.walk(tree)):
            continue
        private = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and n.attr.startswith("_") and not n.attr.startswith("__")
                   and n.attr not in NAMEDTUPLE_API
                   and not (isinstance(n.value, ast.Name) and n.value.id in {"self", "cls"})]
        assert not private, f"{name}: {private}"
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not attributes & {"sock", "lock", "readlock"}, name
