"""The light install for agent hosts: ``studio-analytics-tracker`` (packaging/tracker) carries
the tracker, the OpenTelemetry exporter and receiver and the database layer; the window's
``studio-analytics`` wheel carries the rest and depends on it at the same version.

Fast checks compare the two project files; the slow test builds both wheels, checks that
they split the package exactly, installs the tracker's (with the ``otel`` extra, from PyPI)
in a fresh virtual environment and records a model call, a tool call and an execution —
by the tracker's API and through the OpenTelemetry exporter — into a SQLite file there,
with no PySide6, pyqtgraph or numpy installed.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import studio_analytics

ROOT = Path(__file__).resolve().parents[2]
TRACKER_PROJECT = ROOT / "packaging" / "tracker"
HEAVY = ("PySide6", "PySide6_Essentials", "shiboken6", "pyqtgraph", "numpy")


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _tracker_parts() -> tuple[str, ...]:
    tree = ast.parse((TRACKER_PROJECT / "hatch_build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TRACKER_PARTS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("TRACKER_PARTS not found in packaging/tracker/hatch_build.py")


def test_the_two_projects_agree() -> None:
    root, tracker = _toml(ROOT / "pyproject.toml"), _toml(TRACKER_PROJECT / "pyproject.toml")
    assert root["project"]["version"] == studio_analytics.__version__
    # The tracker's requirements are the root's, line for line (the editable dev install
    # gets them from the root; an agent host from the tracker's wheel).
    assert set(tracker["project"]["dependencies"]) <= set(root["project"]["dependencies"])
    for extra in ("postgres", "otel", "collector"):
        assert tracker["project"]["optional-dependencies"][extra] == root["project"]["optional-dependencies"][extra]
    # What the window's wheel leaves out is exactly what the tracker's ships.
    excluded = root["tool"]["hatch"]["build"]["targets"]["wheel"]["exclude"]
    assert sorted(excluded) == sorted(f"/studio_analytics/{p}" for p in _tracker_parts())


def test_the_tracker_needs_nothing_of_the_window() -> None:
    """Every module the tracker's wheel ships imports only modules of that wheel."""
    parts = _tracker_parts()
    package = ROOT / "studio_analytics"
    shipped = [p for part in parts for p in ((package / part).rglob("*.py") if (package / part).is_dir()
                                             else [package / part]) if p.exists()]
    allowed = {Path(p).stem if p.endswith(".py") else p for p in parts}
    for path in shipped:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                if name.startswith("studio_analytics."):
                    assert name.split(".")[1] in allowed, f"{path.relative_to(ROOT)} imports {name}"


# -- built, installed, used -------------------------------------------------------------
def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _build_wheel(project: Path, out: Path) -> Path:
    before = set(out.glob("*.whl"))
    # Build isolation fetches hatchling like `make dist` does; in-tree, so the tracker's
    # project finds the package two folders up.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(project)])
    (wheel,) = set(out.glob("*.whl")) - before
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return _build_wheel(TRACKER_PROJECT, out), _build_wheel(ROOT, out)


def _package_files(wheel: Path) -> set[str]:
    return {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("studio_analytics/")}


def _metadata(wheel: Path) -> str:
    z = zipfile.ZipFile(wheel)
    return z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()


@pytest.mark.slow
def test_the_wheels_split_the_package(wheels: tuple[Path, Path]) -> None:
    tracker_wheel, window_wheel = wheels
    tracker_files, window_files = _package_files(tracker_wheel), _package_files(window_wheel)
    assert not tracker_files & window_files
    source = {f"studio_analytics/{p.relative_to(ROOT / 'studio_analytics').as_posix()}"
              for p in (ROOT / "studio_analytics").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")}
    assert source <= tracker_files | window_files, sorted(source - tracker_files - window_files)
    for needed in ("studio_analytics/__init__.py", "studio_analytics/tracker/writer.py",
                   "studio_analytics/db/migrations/env.py", "studio_analytics/db/migrations/script.py.mako",
                   "studio_analytics/db/migrations/versions/0001_metrics_tables.py",
                   "studio_analytics/pricing/prices.toml", "studio_analytics/ingest/receiver.py",
                   "studio_analytics/otel.py"):
        assert needed in tracker_files, needed
    assert not any(f.startswith(("studio_analytics/gui/", "studio_analytics/analytics/")) for f in tracker_files)
    version = re.escape(studio_analytics.__version__)
    assert re.search(rf"^Requires-Dist: studio-analytics-tracker=={version}$", _metadata(window_wheel), re.M)
    tracker_meta = _metadata(tracker_wheel)
    assert re.search(rf"^Version: {version}$", tracker_meta, re.M)
    requires = re.findall(r"^Requires-Dist: (\S+)", tracker_meta, re.M)
    assert not [r for r in requires if r.lower().startswith(("pyside6", "pyqtgraph", "numpy"))]


RECORD_SCRIPT = textwrap.dedent("""
    import importlib.util, sqlite3, sys
    from studio_analytics import tracker

    db = sys.argv[1]
    tracker.configure(db_url="sqlite:///" + db, flush_interval_s=0.05)
    with tracker.track_agent_execution(agent_name="HostAgent", query="q") as run:
        with tracker.track_model_call(model="gpt-4o-mini", provider="openai") as call:
            call.record_usage(input_tokens=12, output_tokens=3)
        with tracker.track_tool_usage(tool_name="search", input_data={"q": "x"}):
            pass

    # The OpenTelemetry exporter (the `otel` extra): GenAI spans into the same file.
    from opentelemetry.sdk.trace import TracerProvider
    from studio_analytics.otel import instrument

    provider = TracerProvider()
    instrument(tracer_provider=provider)  # into this process's tracker, configured above
    t = provider.get_tracer("host")
    with t.start_as_current_span("invoke_agent OtelAgent", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "OtelAgent"}):
        with t.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 2}):
            pass
        with t.start_as_current_span("execute_tool fetch", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"}):
            pass
    provider.shutdown()
    assert tracker.flush(20), "the tracker did not write in time"
    tracker.shutdown(5)

    conn = sqlite3.connect(db)
    agents = sorted(r[0] for r in conn.execute("SELECT agent_name FROM agent_execution_metrics"))
    tools = sorted(r[0] for r in conn.execute("SELECT tool_name FROM tool_usage_metrics"))
    models = conn.execute("SELECT count(*) FROM model_call_metrics").fetchone()[0]
    assert agents == ["HostAgent", "OtelAgent"], agents
    assert tools == ["fetch", "search"], tools
    assert models == 2, models
    heavy = [m for m in ("PySide6", "shiboken6", "pyqtgraph", "numpy") if importlib.util.find_spec(m)]
    loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "numpy")]
    assert not heavy and not loaded, (heavy, loaded)
    print("recorded", agents, tools, models)
""")


def _site_packages(env: Path) -> Path:
    (path,) = env.glob("lib/python3*/site-packages")
    return path


def _size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


@pytest.mark.slow
def test_tracker_installs_and_records_without_qt_or_numpy(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    tracker_wheel, _ = wheels
    env = tmp_path / "agent-host"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    bare = _size_mib(_site_packages(env))  # pip (and setuptools) of the venv itself
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{tracker_wheel}[otel]"],
         env=clean_env)
    listed = _run([str(python), "-m", "pip", "list", "--format=freeze"], env=clean_env).stdout
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "studio-analytics-tracker" in installed
    assert not installed & {h.lower().replace("_", "-") for h in HEAVY}, sorted(installed)
    # Run from a folder outside the repository, so only the installed wheel can be imported.
    proc = _run([str(python), "-c", RECORD_SCRIPT, str(tmp_path / "host.sqlite3")], cwd=tmp_path,
                env={**clean_env, "STUDIO_ANALYTICS_HOME": str(tmp_path / "home")})
    assert "recorded" in proc.stdout
    brought = _size_mib(_site_packages(env)) - bare
    print(f"\nstudio-analytics-tracker[otel] brings {brought:.1f} MiB to site-packages (bare venv {bare:.1f} MiB)")
    # The yardstick: ~34 MiB for Phoenix's client, ~349 MiB with Qt and numpy.
    # SQLAlchemy alone is ~27 MiB of it (with the .pyc files pip compiles).
    assert brought < 60, f"the light install brings {brought:.1f} MiB"
