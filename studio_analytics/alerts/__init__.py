"""Alerts: rules over the analytics figures, evaluated from the hourly rollups.

Above :mod:`studio_analytics.analytics` (it reads the same rollups and raw edges) and
below the window and the CLI, which deliver what it finds. Nothing here imports Qt.
"""
