"""Settings refuse unsafe production configuration."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings

PG = "postgresql+asyncpg://u@db/ucb"


@pytest.mark.parametrize(
    "secret", ["dev-only-secret-not-for-production-use", "change-me", "", "short"]
)
def test_production_refuses_placeholder_or_short_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="UCB_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, database_url=PG)


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key="x" * 40)


REAL_KEYS = {"k2": base64.b64encode(b"k" * 32).decode()}


def test_production_refuses_the_development_payload_key() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_KEYS"):
        Settings(environment="production", secret_key="x" * 40, database_url=PG)


def test_production_accepts_a_real_secret_key_and_postgres() -> None:
    settings = Settings(
        environment="production",
        secret_key="x" * 40,
        database_url=PG,
        codec_keys=REAL_KEYS,
        codec_active_key="k2",
    )
    assert settings.secret_key


def test_the_active_payload_key_must_exist() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_ACTIVE_KEY"):
        Settings(codec_keys=REAL_KEYS, codec_active_key="k9")


def test_paths_derive_from_var_dir() -> None:
    settings = Settings(var_dir=Path("somewhere"))
    assert str(settings.outbox) == "somewhere/outbox"
    assert settings.database_url == "sqlite+aiosqlite:///somewhere/records.sqlite3"
