"""Settings refuse unsafe production configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings

PG = "postgresql+asyncpg://u@db/ucb"


@pytest.mark.parametrize("secret", ["dev-only-secret", "change-me", "", "short"])
def test_production_refuses_placeholder_or_short_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="UCB_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, database_url=PG)


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key="x" * 40)


def test_production_accepts_a_real_secret_and_postgres() -> None:
    assert Settings(environment="production", secret_key="x" * 40, database_url=PG).secret_key


def test_paths_derive_from_var_dir() -> None:
    settings = Settings(var_dir=Path("somewhere"))
    assert str(settings.outbox) == "somewhere/outbox"
    assert settings.database_url == "sqlite+aiosqlite:///somewhere/records.sqlite3"
