"""The task API (FastAPI) and the inbox page."""
