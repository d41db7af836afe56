"""Background workers: the only GUI code that runs queries."""
