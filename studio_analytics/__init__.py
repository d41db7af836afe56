"""studio-analytics: a local-first monitoring window and tracker for AI-agent systems."""

__version__ = "0.1.0"
