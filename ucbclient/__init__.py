"""The typed HTTP client for the case API and the `ucb` command line above it."""
