"""Engine and session handling, shared by the worker and the API."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class _DropDebug(logging.Filter):
    """Drops DEBUG records: aiosqlite logs every statement with its parameters at DEBUG,
    and SQLAlchemy every result row (``hide_parameters`` does not cover rows)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# Personal data never reaches the logs, whatever level the logging configuration sets.
_DROP_DEBUG = _DropDebug()
for _name in ("aiosqlite", "sqlalchemy.engine.Engine"):
    if _DROP_DEBUG not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_DROP_DEBUG)


def make_engine(database_url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so worker and API can share it."""
    if database_url.startswith("sqlite"):
        engine = create_async_engine(
            database_url, connect_args={"timeout": 30}, hide_parameters=True
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Statement parameters never reach logs or error messages: they hold personal data.
    return create_async_engine(database_url, pool_pre_ping=True, hide_parameters=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
