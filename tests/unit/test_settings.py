"""Settings refuse unsafe production configuration."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import DEV_CODEC_KEYS, Settings

PG = "postgresql+asyncpg://u@db/ucb"
# As `openssl rand -hex 32` would make one.
REAL_SECRET = "9f2c4e7a1b8d3f6051e2a9c7d4b0f8e3a6c1d9b2e5f7083a4c6e1b9d2f5a7c30"


@pytest.mark.parametrize(
    "secret",
    [
        "dev-only-secret-not-for-production-use",
        "change-me",
        "",
        "short",
        "a" * 32,  # long enough, but not random
        "abcabcabcabcabcabcabcabcabcabcabcabc",
        "prefix-change-me-and-some-more-characters-0123",  # a placeholder inside
    ],
)
def test_production_refuses_placeholder_or_short_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="UCB_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, database_url=PG)


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key=REAL_SECRET)


REAL_KEYS = {"k2": base64.b64encode(bytes(range(7, 39))).decode()}


def test_production_refuses_the_development_payload_key() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_KEYS"):
        Settings(environment="production", secret_key=REAL_SECRET, database_url=PG)


PRODUCTION: dict[str, object] = {
    "environment": "production",
    "secret_key": REAL_SECRET,
    "database_url": PG,
    "codec_keys": REAL_KEYS,
    "codec_active_key": "k2",
    "role_mailboxes": {"manager": "managers@landlord.example"},
    "public_url": "https://cases.landlord.example",
}


def test_production_accepts_a_real_secret_key_and_postgres() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.secret_key


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"role_mailboxes": {}}, "UCB_ROLE_MAILBOXES"),
        ({"public_url": "http://127.0.0.1:8000"}, "UCB_PUBLIC_URL"),
        ({"public_url": "https://localhost"}, "UCB_PUBLIC_URL"),
        ({"public_url": "http://cases.landlord.example"}, "https"),
    ],
)
def test_production_refuses_escalations_to_no_one_or_links_to_this_machine(
    change: dict[str, object], refused: str
) -> None:
    with pytest.raises(ValidationError, match=refused):
        Settings(**{**PRODUCTION, **change})  # type: ignore[arg-type]


def test_the_active_payload_key_must_exist() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_ACTIVE_KEY"):
        Settings(codec_keys=REAL_KEYS, codec_active_key="k9")


def test_paths_derive_from_var_dir() -> None:
    settings = Settings(var_dir=Path("somewhere"))
    assert str(settings.outbox) == "somewhere/outbox"
    assert settings.database_url == "sqlite+aiosqlite:///somewhere/records.sqlite3"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"renamed": DEV_CODEC_KEYS["dev-1"]}, "the development key"),  # under another id
        ({"zero": base64.b64encode(bytes(32)).decode()}, "distinct bytes"),
        ({"short": base64.b64encode(bytes(range(16))).decode()}, "16 bytes"),
        ({"text": "not base64!"}, "not base64"),
    ],
)
def test_production_refuses_weak_payload_keys(keys: dict[str, str], problem: str) -> None:
    active = next(iter(keys))
    with pytest.raises(ValidationError, match=problem):
        Settings(
            environment="production",
            secret_key=REAL_SECRET,
            database_url=PG,
            codec_keys=keys,
            codec_active_key=active,
        )
