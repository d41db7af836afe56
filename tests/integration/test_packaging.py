"""The wheel carries the migrations, resources and entry points; desktop metadata validates."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named 'hatchling'" in proc.stderr:
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("studio_analytics-*.whl")
    return path


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    # The migrations travel in the studio-analytics-tracker wheel (test_light_install.py).
    for needed in ("studio_analytics/resources/icons/studio-analytics.svg",
                   "studio_analytics/resources/icons/studio-analytics-256.png",
                   "studio_analytics/resources/styles/light.qss", "studio_analytics/resources/styles/dark.qss"):
        assert needed in names, needed
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "studio-analytics = studio_analytics.__main__:main" in text
    assert not any(n.startswith("tests/") for n in names)


def test_desktop_entry() -> None:
    path = PACKAGING / "studio-analytics.desktop"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(path)
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"] == "studio-analytics"
    assert section["Icon"] == "studio-analytics" and "Monitor" in section["Categories"]
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_appstream_metainfo() -> None:
    path = PACKAGING / "io.github.studio_analytics.StudioAnalytics.metainfo.xml"
    root = ET.parse(path).getroot()
    assert root.findtext("id") == "io.github.studio_analytics.StudioAnalytics"
    assert root.find("launchable").text == "studio-analytics.desktop"  # type: ignore[union-attr]
    if shutil.which("appstreamcli"):
        proc = subprocess.run(["appstreamcli", "validate", "--no-net", "--explain", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pyinstaller_spec_ships_migrations_and_resources() -> None:
    spec = (PACKAGING / "studio-analytics.spec").read_text()
    assert 'collect_data_files("studio_analytics.db.migrations", include_py_files=True)' in spec
    assert '"resources"' in spec and "launcher.py" in spec
