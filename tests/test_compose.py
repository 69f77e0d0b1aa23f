"""The production topology (docker-compose.yml, Dockerfile, deploy/) read as text and YAML.

There is no container engine in CI, so these tests check the wiring that would otherwise
only fail on a deployment: services, start order, health, secrets and search attributes.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
POSTGRES_INIT = ROOT / "deploy" / "postgres-init.sql"

APP_SERVICES = ("migrate", "worker", "api")
ONE_SHOT_SERVICES = ("temporal-register-search-attributes", "migrate")
LONG_RUNNING_SERVICES = ("postgresql", "temporal", "temporal-ui", "mailpit", "worker", "api")

HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
APP_DEPENDS_ON = {
    "temporal": HEALTHY,
    "temporal-register-search-attributes": COMPLETED,
    "migrate": COMPLETED,
    "mailpit": HEALTHY,
}
EXPECTED_DEPENDS_ON: dict[str, dict[str, str]] = {
    "postgresql": {},
    "temporal": {"postgresql": HEALTHY},
    "temporal-register-search-attributes": {"temporal": HEALTHY},
    "temporal-ui": {"temporal": HEALTHY},
    "mailpit": {},
    "migrate": {"postgresql": HEALTHY},
    "worker": APP_DEPENDS_ON,
    "api": APP_DEPENDS_ON,
}

# The attributes the case workflow upserts, by name and `temporal` CLI type.
EXPECTED_SEARCH_ATTRIBUTES = {
    "CustomerRef": "Keyword",
    "CaseStage": "Keyword",
    "RiskFlag": "Bool",
    "NextReviewAt": "Datetime",
    "PolicyProfile": "Keyword",
    "OpenTasks": "Int",
    "ReviewOverdue": "Bool",
}

REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "UCB_SECRET_KEY", "UCB_CODEC_KEYS", "UCB_CODEC_ACTIVE_KEY")
REQUIRED_VARIABLES = (*REQUIRED_SECRETS, "UCB_LANDLORD_NAME", "UCB_LETTERS_FROM")
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY")
# `${NAME}` with its modifier: `:?msg` / `?msg` (required), `:-x` / `-x` (default), or none.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>[^}]*)\}")
REQUIRED_VALUE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>.+)@")
REGISTER_CALL = re.compile(r"^\s*register\s+(?P<name>\w+)\s+(?P<type>\w+)\s*$", re.MULTILINE)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    assert isinstance(value, dict), f"{what} must be a mapping, got {value!r}"
    return value


@pytest.fixture(scope="module")
def raw_compose() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(raw_compose: str) -> dict[str, Any]:
    return _mapping(yaml.safe_load(raw_compose), "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = _mapping(compose.get("services"), "services")
    return {name: _mapping(service, name) for name, service in found.items()}


def _environment(service: dict[str, Any], name: str) -> dict[str, str]:
    env = _mapping(service.get("environment", {}), f"{name}.environment")
    return {str(key): str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), f"no command in {service!r}"
    return [str(part) for part in command]


def _register_script(services: dict[str, dict[str, Any]]) -> str:
    return "\n".join(_command(services["temporal-register-search-attributes"]))


def test_every_service_of_the_topology_is_defined(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == set(EXPECTED_DEPENDS_ON)


def test_infrastructure_images_are_the_agreed_ones_and_pinned(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["postgresql"]["image"] == "postgres:16"
    expected_prefixes = {
        "temporal": "temporalio/auto-setup:",
        "temporal-register-search-attributes": "temporalio/admin-tools:",
        "temporal-ui": "temporalio/ui:",
        "mailpit": "axllent/mailpit:",
    }
    for name, prefix in expected_prefixes.items():
        image = str(services[name]["image"])
        assert image.startswith(prefix), f"{name} runs {image}"
        tag = image.removeprefix(prefix)
        assert re.match(r"v?\d+\.\d+", tag), f"{name} is not pinned to a version: {image}"


@pytest.mark.parametrize("name", LONG_RUNNING_SERVICES)
def test_long_running_services_have_a_healthcheck_and_restart(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    healthcheck = _mapping(service.get("healthcheck"), f"{name}.healthcheck")
    assert not healthcheck.get("disable", False)
    test = healthcheck.get("test")
    assert isinstance(test, list) and len(test) >= 2, f"{name}: {test!r}"
    assert test[0] in ("CMD", "CMD-SHELL")
    assert service.get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", ONE_SHOT_SERVICES)
def test_one_shot_services_are_not_restarted(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    assert services[name].get("restart", "no") == "no"
    assert "healthcheck" not in services[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_DEPENDS_ON))
def test_start_order_waits_on_health_and_completion(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    depends_on = _mapping(services[name].get("depends_on", {}), f"{name}.depends_on")
    conditions = {
        dependency: _mapping(spec, f"{name}.depends_on.{dependency}").get("condition")
        for dependency, spec in depends_on.items()
    }
    assert conditions == EXPECTED_DEPENDS_ON[name]
    for dependency, condition in conditions.items():
        if condition == HEALTHY:
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
        else:
            assert dependency in ONE_SHOT_SERVICES


def test_the_app_runs_the_expected_commands(services: dict[str, dict[str, Any]]) -> None:
    assert _command(services["migrate"]) == ["alembic", "upgrade", "head"]
    assert _command(services["worker"]) == ["python", "worker.py"]
    assert _command(services["api"]) == shlex.split(
        "uvicorn --factory api.app:create_app --host 0.0.0.0 --port 8000 --no-proxy-headers"
    )
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert "python" in api_check and "http://127.0.0.1:8000/healthz" in api_check
    assert "curl" not in api_check


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_the_dockerfile(services: dict[str, dict[str, Any]], name: str) -> None:
    build = _mapping(services[name].get("build"), f"{name}.build")
    assert (ROOT / str(build.get("context", "."))).resolve() == ROOT
    dockerfile = ROOT / str(build.get("context", ".")) / str(build.get("dockerfile", "Dockerfile"))
    assert dockerfile.resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()
    images = {str(services[app].get("image")) for app in APP_SERVICES}
    assert len(images) == 1, f"the app services must share one image tag: {images}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_the_production_environment(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _environment(services[name], name)
    shared = _mapping(compose.get("x-app-env"), "x-app-env")
    assert env == {str(key): str(value) for key, value in shared.items()}
    assert env["UCB_ENVIRONMENT"] == "production"
    assert env["UCB_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["UCB_SMTP_HOST"] == "mailpit"
    assert env["UCB_SMTP_PORT"] == "1025"
    assert env["UCB_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgresql:5432/" in env["UCB_DATABASE_URL"]
    for variable in (
        "UCB_SECRET_KEY",
        "UCB_CODEC_KEYS",
        "UCB_CODEC_ACTIVE_KEY",
        "UCB_LANDLORD_NAME",
        "UCB_LETTERS_FROM",
    ):
        assert REQUIRED_VALUE.match(env[variable]), f"{name}: {variable}={env[variable]}"


def test_temporal_runs_on_the_postgresql_service(services: dict[str, dict[str, Any]]) -> None:
    env = _environment(services["temporal"], "temporal")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    postgres_env = _environment(services["postgresql"], "postgresql")
    assert env["POSTGRES_USER"] == postgres_env.get("POSTGRES_USER", "postgres")
    assert env["POSTGRES_PWD"] == postgres_env["POSTGRES_PASSWORD"]


def test_the_ui_decodes_payloads_through_the_api_codec(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["temporal-ui"], "temporal-ui")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert re.fullmatch(r"\$\{UCB_PUBLIC_API_URL:\?[^}]*\}/codec", env["TEMPORAL_CODEC_ENDPOINT"])


@pytest.mark.parametrize("variable", REQUIRED_VARIABLES)
def test_required_variables_must_be_set(raw_compose: str, variable: str) -> None:
    uses = [m for m in INTERPOLATION.finditer(raw_compose) if m["name"] == variable]
    assert uses, f"{variable} is not used"
    for use in uses:
        assert use["modifier"].startswith(":?"), f"{use[0]} would let {variable} be empty"


def test_no_secret_has_a_default_or_a_literal_value(
    raw_compose: str, services: dict[str, dict[str, Any]]
) -> None:
    for use in INTERPOLATION.finditer(raw_compose):
        if SECRET_NAME.search(use["name"]):
            assert use["modifier"].startswith(":?"), f"{use[0]} is not required"
    for name, service in services.items():
        for key, value in _environment(service, name).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VALUE.match(value), f"{name}: literal secret in {key}"
            url = URL_PASSWORD.search(value)
            if url:
                assert REQUIRED_VALUE.match(url["password"]), f"{name}: password in {key}"


def test_search_attributes_registered_are_the_workflows_own(
    services: dict[str, dict[str, Any]],
) -> None:
    script = _register_script(services)
    registered = {m["name"]: m["type"] for m in REGISTER_CALL.finditer(script)}
    assert registered == EXPECTED_SEARCH_ATTRIBUTES
    assert registered == dict(SEARCH_ATTRIBUTE_TYPES)
    assert len(REGISTER_CALL.findall(script)) == len(registered), "an attribute is repeated"
    assert "temporal operator search-attribute create --namespace" in script
    assert '--name "$$1" --type "$$2"' in script


def test_search_attribute_registration_tolerates_existing_attributes(
    services: dict[str, dict[str, Any]],
) -> None:
    service = services["temporal-register-search-attributes"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script = _register_script(services)
    assert "set -eu" in script
    # A failed create (the attribute exists) is not fatal; the listing decides success.
    assert "|| true" in script
    assert "temporal operator search-attribute list" in script
    assert _environment(service, "register")["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_postgres_init_script_creates_every_database(services: dict[str, dict[str, Any]]) -> None:
    assert POSTGRES_INIT.is_file()
    mounts = [str(volume) for volume in services["postgresql"].get("volumes", [])]
    assert any(
        mount.startswith("./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/")
        for mount in mounts
    ), mounts
    sql = POSTGRES_INIT.read_text(encoding="utf-8")
    created = set(re.findall(r"^\s*CREATE\s+DATABASE\s+(\w+)", sql, re.IGNORECASE | re.MULTILINE))
    assert created >= {"temporal", "temporal_visibility", "ucb_records"}
    records_url = _environment(services["api"], "api")["UCB_DATABASE_URL"]
    assert records_url.rsplit("/", 1)[1] in created


def test_dockerfile_installs_the_locked_dependencies_then_the_source() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    lock_copy = text.index("COPY requirements.lock pyproject.toml")
    lock_install = text.index("pip install --require-hashes --no-deps -r requirements.lock")
    source_install = text.index("pip install --no-deps --no-build-isolation .")
    first_source_copy = min(text.index(f"COPY {top}") for top in ("settings.py", "workflows/"))
    assert lock_copy < lock_install < first_source_copy < source_install
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert not re.search(r"^(ENV|ARG)\s+\S*(SECRET|PASSWORD)", text, re.MULTILINE)


def test_dockerfile_copies_everything_the_package_and_alembic_need() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    copied = {
        source.rstrip("/")
        for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_config = pyproject["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in setuptools_config["packages"]["find"]["include"]}
    modules = {f"{module}.py" for module in setuptools_config["py-modules"]}
    needed = packages | modules | {"alembic.ini", "requirements.lock", "pyproject.toml"}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= ignored
