"""Hatch hooks of studio-analytics-tracker: its files and version come from the repository's
``studio_analytics`` package two folders up (or, when building from this distribution's
own sdist, from the copy the sdist carries)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface

#: What an agent host needs, relative to studio_analytics/. Everything else of the package
#: (cli, commands, analytics, export, demo, gui, resources) is the window's wheel, whose
#: [tool.hatch.build.targets.wheel] exclude in the root pyproject.toml lists these same paths.
TRACKER_PARTS = (
    "__init__.py", "config.py", "private_files.py", "otel.py",
    "db", "tracker", "pricing", "ingest",
)


def package_dir(root: str) -> Path:
    here = Path(root)
    for candidate in (here / "studio_analytics", here.parent.parent / "studio_analytics"):
        if (candidate / "__init__.py").is_file():
            return candidate
    raise FileNotFoundError(f"studio_analytics/ not found beside or two folders above {here}")


def package_version(root: str) -> str:
    text = (package_dir(root) / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise ValueError("no __version__ in studio_analytics/__init__.py")
    return match.group(1)


class TrackerMetadataHook(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        metadata["version"] = package_version(self.root)


class TrackerFilesHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        source = package_dir(self.root)
        for part in TRACKER_PARTS:
            path = source / part
            if not path.exists():
                raise FileNotFoundError(f"the tracker distribution needs {path}")
            # Directories are walked by hatch, which leaves out __pycache__.
            build_data["force_include"][str(path)] = f"studio_analytics/{part}"
