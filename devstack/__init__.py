"""The local development stack that `make run` starts and supervises."""
