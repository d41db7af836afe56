"""The icon and stylesheets load through importlib.resources (or the source tree)."""

from __future__ import annotations

from studio_analytics.gui.resources import ICON_SIZES, app_icon, resource_path, stylesheet


def test_icon_and_styles_load(qapp) -> None:
    icon = app_icon()
    assert not icon.isNull()
    assert icon.pixmap(64, 64).width() == 64
    assert all(resource_path(f"icons/studio-analytics-{size}.png").is_file() for size in ICON_SIZES)
    assert "KpiCard" in stylesheet(dark=True) and "KpiCard" in stylesheet(dark=False)
    assert resource_path("icons/studio-analytics.svg").read_text().startswith("<svg")
