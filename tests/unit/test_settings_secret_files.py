"""Secrets given as files (Docker secrets): UCB_*_FILE (settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from settings import Settings

URL = "postgresql+asyncpg://ucb_app@postgresql:5432/ucb_records"


def _secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n", encoding="utf-8")
    return path


def test_the_database_password_file_completes_the_url(tmp_path: Path) -> None:
    password = "p@ss:w/rd%?#"
    path = _secret(tmp_path, "db", password)
    settings = Settings(database_url=URL, database_password_file=path)
    url = make_url(settings.database_url)
    assert url.username == "ucb_app"
    assert url.password == password
    assert url.host == "postgresql" and url.database == "ucb_records"


def test_a_password_in_the_url_and_a_file_is_refused(tmp_path: Path) -> None:
    path = _secret(tmp_path, "db", "secret-value")
    with pytest.raises(ValidationError, match="carries a password"):
        Settings(
            database_url="postgresql+asyncpg://ucb_app:x@postgresql/ucb_records",
            database_password_file=path,
        )


def test_missing_or_empty_secret_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        Settings(database_url=URL, database_password_file=tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="is empty"):
        Settings(smtp_password_file=empty)


def test_smtp_password_and_metrics_token_files(tmp_path: Path) -> None:
    smtp = _secret(tmp_path, "smtp", "relay-password")
    token = _secret(tmp_path, "token", "0123456789abcdef" * 4)
    settings = Settings(smtp_password_file=smtp, metrics_token_file=token)
    assert settings.smtp_password == "relay-password"
    assert settings.metrics_token == "0123456789abcdef" * 4


def test_environment_variables_name_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UCB_DATABASE_URL", URL)
    monkeypatch.setenv("UCB_DATABASE_PASSWORD_FILE", str(_secret(tmp_path, "db", "from-file")))
    assert make_url(Settings().database_url).password == "from-file"


def test_sqlite_default_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UCB_DATABASE_URL", raising=False)
    monkeypatch.delenv("UCB_DATABASE_PASSWORD_FILE", raising=False)
    assert Settings().database_url.startswith("sqlite+aiosqlite:///")
