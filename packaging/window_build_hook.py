"""Hatch build hook of the studio-analytics wheel: it depends on studio-analytics-tracker at
its own version, whose wheel carries the files this one leaves out (see pyproject.toml).

Only for a built wheel: an editable install (``make run``/``make test``) exposes the whole
source tree and must not ask pip for a distribution that is not published."""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class WindowWheelHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["dependencies"].append(f"studio-analytics-tracker=={self.metadata.version}")
