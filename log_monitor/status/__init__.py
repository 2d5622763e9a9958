"""The daemon's status server: documents (the JSON API), metrics (/metrics) and http (serving them); docs/status.md."""
