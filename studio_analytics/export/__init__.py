"""CSV export: every row of a range streamed in constant memory. No Qt."""
