"""Layers import one way: db <- analytics <- gui, db <- tracker <- ingest, analytics <-
server (the REST API); Qt only inside gui/; the tracker, the ingestion, the price table and the database layer never load numpy
(an agent host installs them without it).

Checked two ways: statically over every module's imports (including function-local ones),
and dynamically by importing the non-GUI packages in a fresh interpreter and looking at
``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "studio_analytics"
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "qtpy")
#: what an agent host imports: none of these may load numpy or Qt
LIGHT_LAYERS = ("db", "tracker", "ingest", "pricing")

#: package -> internal packages it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "db": ("analytics", "tracker", "gui", "export", "commands", "demo", "cli", "ingest", "pricing", "alerts", "archive",
           "server"),
    # beside analytics: reads and writes raw rows through the db layer only
    "archive": ("analytics", "tracker", "gui", "export", "commands", "demo", "cli", "ingest", "alerts", "server"),
    "pricing": ("db", "analytics", "tracker", "gui", "export", "commands", "demo", "cli", "ingest", "server"),
    "tracker": ("analytics", "gui", "export", "commands", "demo", "cli", "ingest", "alerts", "server"),
    "ingest": ("analytics", "gui", "export", "commands", "demo", "cli", "alerts", "server"),
    "analytics": ("tracker", "gui", "export", "commands", "demo", "cli", "ingest", "alerts", "server"),
    # above analytics, below the window and the CLI; its state is a file, not the database
    "alerts": ("tracker", "gui", "commands", "demo", "cli", "ingest", "server"),
    "export": ("gui", "tracker", "commands", "demo", "cli", "server"),
    "demo": ("gui", "commands", "cli", "alerts", "server"),
    "commands": ("gui",),
    # the REST API: beside the commands, calling analytics as they do; it may mount the
    # OTLP receiver (ingest), never the tracker directly
    "server": ("gui", "tracker", "demo", "commands", "cli"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_there_are_modules_to_check() -> None:
    layers = {_layer(p) for p in _modules()}
    assert {"db", "gui", "analytics", "tracker"} <= layers


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_layers(path: Path) -> None:
    layer = _layer(path)
    imported = _imports(path)
    if layer != "gui":
        qt = [m for m in imported if m.split(".")[0] in QT_MODULES]
        assert not qt, f"{path.name} imports Qt outside gui/: {qt}"
    if layer in LIGHT_LAYERS:
        heavy = [m for m in imported if m.split(".")[0] == "numpy"]
        assert not heavy, f"{path.name} imports numpy in a layer agent hosts install: {heavy}"
    for banned in FORBIDDEN.get(layer, ()):
        hits = [m for m in imported if m == f"studio_analytics.{banned}" or m.startswith(f"studio_analytics.{banned}.")]
        assert not hits, f"{layer} must not import {banned}: {hits}"


def test_non_gui_packages_do_not_load_qt_at_runtime() -> None:
    code = (
        "import sys\n"
        "import studio_analytics.db, studio_analytics.analytics, studio_analytics.alerts.evaluate, studio_analytics.tracker\n"
        "import studio_analytics.cli, studio_analytics.server.app, studio_analytics.server.runner\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"Qt loaded by non-GUI imports: {proc.stdout} {proc.stderr}"


def test_agent_host_layers_do_not_load_numpy_or_qt_at_runtime() -> None:
    code = (
        "import sys\n"
        "import studio_analytics.tracker, studio_analytics.pricing, studio_analytics.ingest\n"
        "import studio_analytics.tracker.writer, studio_analytics.tracker.records, studio_analytics.tracker.sink\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES + ('numpy',)!r}]\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"numpy or Qt loaded by the tracker's imports: {proc.stdout} {proc.stderr}"
