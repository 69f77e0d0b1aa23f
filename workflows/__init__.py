"""Case workflows: deterministic, no I/O, no settings reads."""
