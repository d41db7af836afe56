"""``studio-analytics --open execution:ID|session:ID``: the window opens with that
drill-down, and with ``--screenshot`` the picture is of the dialog (how the README's
trace tree is made). Bad targets are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from studio_analytics.analytics import execution_detail, list_executions, time_range
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.gui.charts.waterfall_chart import KIND_COLOURS

EXE = Path(sys.executable).with_name("studio-analytics")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, uuid.UUID, str]:
    """A demo file and one execution with tool and model calls (and its session)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('open') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "300", "--days", "1", "--seed", "5"]) == 0
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        for row in list_executions(conn, time_range(days=2), limit=300).rows:
            detail = execution_detail(conn, row.execution_id)
            kinds = {s.kind for s in detail.spans} if detail else set()
            if detail and {"tool", "model"} <= kinds and detail.session_id:
                break
        else:
            pytest.fail("the demo wrote no execution with tool and model calls")
    engine.dispose()
    return url, detail.execution_id, detail.session_id


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=timeout)


def _pixels_of(image: QImage, colour: str) -> int:
    rgb = QColor(colour).rgb()
    return sum(1 for x in range(0, image.width(), 2) for y in range(0, image.height(), 2) if image.pixel(x, y) == rgb)


def test_open_execution_screenshot_is_the_trace_dialog(demo, tmp_path: Path) -> None:
    url, execution_id, _session = demo
    out = tmp_path / "trace.png"
    proc = _run("--db", url, "--open", f"execution:{execution_id}", "--screenshot", str(out), "--size", "1000x700")
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1000, 700)
    assert out.stat().st_mode & 0o077 == 0
    # Tool-call bars and model-call bars of the waterfall, in their own colours ...
    assert _pixels_of(image, KIND_COLOURS["tool"]) > 20 and _pixels_of(image, KIND_COLOURS["model"]) > 20
    # ... which the window's own first picture does not have.
    window = tmp_path / "window.png"
    assert _run("--db", url, "--screenshot", str(window), "--size", "1000x700").returncode == 0
    assert _pixels_of(QImage(str(window)), KIND_COLOURS["tool"]) == 0


def test_open_session_screenshot(demo, tmp_path: Path) -> None:
    url, _execution, session_id = demo
    out = tmp_path / "session.png"
    proc = _run("--db", url, "--open", f"session:{session_id}", "--screenshot", str(out), "--size", "900x600")
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


@pytest.mark.slow
def test_bad_targets_are_refused(demo, tmp_path: Path) -> None:
    url, _execution, _session = demo
    proc = _run("--db", url, "--open", "execution:not-a-uuid", "--screenshot", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "not an execution id" in proc.stderr
    proc = _run("--db", url, "--open", "trace:123")
    assert proc.returncode == 2 and "expected execution:ID or session:ID" in proc.stderr
    missing = uuid.uuid4()
    out = tmp_path / "missing.png"
    proc = _run("--db", url, "--open", f"execution:{missing}", "--screenshot", str(out))
    assert proc.returncode == 1 and "not in the database" in proc.stderr
