"""Ingestion: OpenTelemetry spans from any framework into the metrics tables, through the
tracker's own writer (batching, spool, redaction). Beside the tracker; no Qt, no numpy,
no analytics."""
