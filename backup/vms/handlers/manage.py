"""Job handlers; see backup/jobs/registry.py."""
