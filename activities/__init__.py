"""Activities: thin, idempotent I/O for the case workflow."""
