"""Icon and stylesheets, loaded with importlib.resources.

In a wheel they live in ``studio_analytics/resources`` (hatch force-includes the top-level
``resources/`` folder there); in a source checkout or editable install, the repository's
``resources/`` folder is used.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def resource_path(name: str) -> Path:
    packaged = resources.files("studio_analytics") / "resources" / name
    if packaged.is_file():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[2] / "resources" / name
    if source.is_file():
        return source
    raise FileNotFoundError(f"resource {name!r} is missing from the installation")


def app_icon() -> QIcon:
    icon = QIcon(str(resource_path("icons/studio-analytics.svg")))
    for size in ICON_SIZES:
        # The SVG scales; PNGs are for platforms that prefer bitmaps.
        with contextlib.suppress(FileNotFoundError):
            icon.addFile(str(resource_path(f"icons/studio-analytics-{size}.png")))
    return icon


def stylesheet(dark: bool) -> str:
    return resource_path(f"styles/{'dark' if dark else 'light'}.qss").read_text(encoding="utf-8")
