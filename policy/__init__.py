"""Pure policy rules and the policy profiles. No I/O, no Temporal, no settings."""
