"""Every endpoint admits exactly its roles: a role x endpoint matrix over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.app import create_app
from tokens import ApiRole, create_token

ALL = {r.value for r in ApiRole}
STAFF = {"officer", "manager", "head_of_service", "director"}
REPORT_READERS = {"manager", "head_of_service", "director", "auditor"}

# (method, path template, example path, example body, admitted roles)
MATRIX: list[tuple[str, str, str, dict[str, Any] | None, set[str]]] = [
    ("POST", "/v1/incidents", "/v1/incidents", {}, {"case_system", "officer"}),
    ("PUT", "/v1/customers/{customer_ref}", "/v1/customers/M1", {}, {"case_system", "officer"}),
    (
        "GET",
        "/v1/customers/{customer_ref}/arrangements",
        "/v1/customers/M1/arrangements",
        None,
        STAFF | {"contractor", "case_system"},
    ),
    (
        "PUT",
        "/v1/customers/{customer_ref}/equality",
        "/v1/customers/M1/equality",
        {},
        STAFF | {"case_system"},
    ),
    (
        "GET",
        "/v1/customers/{customer_ref}/equality",
        "/v1/customers/M1/equality",
        None,
        STAFF | {"case_system"},
    ),
    ("GET", "/v1/equality/categories", "/v1/equality/categories", None, STAFF | {"case_system"}),
    ("GET", "/v1/cases", "/v1/cases?customer_ref=M1", None, STAFF | {"case_system"}),
    ("GET", "/v1/cases/{customer_ref}", "/v1/cases/M1", None, STAFF | {"case_system"}),
    ("POST", "/v1/cases/{customer_ref}/access", "/v1/cases/M1/access", {}, STAFF),
    (
        "GET",
        "/v1/cases/{customer_ref}/audit/export",
        "/v1/cases/M1/audit/export",
        None,
        {"auditor"},
    ),
    ("GET", "/v1/cases/{customer_ref}/state", "/v1/cases/M1/state", None, STAFF | {"case_system"}),
    (
        "GET",
        "/v1/cases/{customer_ref}/incidents",
        "/v1/cases/M1/incidents",
        None,
        STAFF | {"case_system"},
    ),
    (
        "GET",
        "/v1/cases/{customer_ref}/letters",
        "/v1/cases/M1/letters",
        None,
        STAFF | {"case_system"},
    ),
    ("GET", "/v1/events", "/v1/events", None, {"case_system", "auditor"}),
    (
        "POST",
        "/v1/cases/{customer_ref}/appeals",
        "/v1/cases/M1/appeals",
        {},
        {"case_system", "officer"},
    ),
    (
        "POST",
        "/v1/cases/{customer_ref}/risk-flag-reviews",
        "/v1/cases/M1/risk-flag-reviews",
        {},
        STAFF,
    ),
    (
        "POST",
        "/v1/cases/{customer_ref}/support",
        "/v1/cases/M1/support",
        {"bogus": 1},
        STAFF | {"case_system"},
    ),
    ("GET", "/v1/tasks", "/v1/tasks", None, STAFF),
    ("POST", "/v1/tasks/{task_id}/claim", "/v1/tasks/nope/claim", None, STAFF),
    ("POST", "/v1/tasks/{task_id}/release", "/v1/tasks/nope/release", None, STAFF),
    ("POST", "/v1/tasks/{task_id}/complete", "/v1/tasks/nope/complete", {}, STAFF),
    ("GET", "/v1/letters/{letter_id}", "/v1/letters/x:y", None, STAFF),
    ("GET", "/v1/audit", "/v1/audit", None, {"auditor"}),
    ("GET", "/v1/reports", "/v1/reports", None, REPORT_READERS),
    ("GET", "/v1/reports/{section}", "/v1/reports/reviews", None, REPORT_READERS),
    ("GET", "/healthz/cases", "/healthz/cases", None, {"operator"}),
    ("POST", "/v1/revocations", "/v1/revocations", {}, {"operator"}),
    ("POST", "/codec/encode", "/codec/encode", {"payloads": []}, {"operator", "auditor"}),
    ("POST", "/codec/decode", "/codec/decode", {"payloads": []}, {"operator", "auditor"}),
]
PUBLIC = {("GET", "/healthz")}


def test_the_matrix_covers_every_endpoint_of_the_app() -> None:
    declared = {(method, template) for method, template, *_ in MATRIX} | PUBLIC
    paths = create_app().openapi()["paths"]
    routes = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert routes == declared


@pytest.mark.parametrize(("method", "template", "path", "body", "admitted"), MATRIX)
async def test_endpoint_admits_exactly_its_roles(
    api_url: str,
    auth_for: Any,
    method: str,
    template: str,
    path: str,
    body: dict[str, Any] | None,
    admitted: set[str],
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        anonymous = await http.request(method, path, json=body)
        assert anonymous.status_code == 401, (template, anonymous.text)
        forged = await http.request(
            method, path, json=body, headers={"Authorization": "Bearer not.a.token"}
        )
        assert forged.status_code == 401
        for role in sorted(ALL):
            response = await http.request(method, path, json=body, headers=auth_for(role))
            if role in admitted:
                assert response.status_code not in (401, 403), (template, role, response.text)
            else:
                assert response.status_code == 403, (template, role, response.status_code)


async def test_an_expired_token_is_refused(api_url: str, settings: Any) -> None:

    expired = create_token(settings.secret_key, "old", ["auditor"], ttl_seconds=-5)
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.get("/v1/audit", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.text


async def test_a_token_signed_with_another_key_is_refused(api_url: str) -> None:
    from tokens import create_token

    forged = create_token("some-other-secret-key-xxxxxxxxxxxxxxxx", "eve", ["auditor"], 60)
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.get("/v1/audit", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_an_operator_revokes_every_token_a_user_holds(api_url: str, settings: Any) -> None:
    def bearer(user: str, role: str) -> dict[str, str]:
        token = create_token(settings.secret_key, user, [role], 600)
        return {"Authorization": f"Bearer {token}"}

    kim = bearer("kim-revoked", "officer")
    async with httpx.AsyncClient(base_url=api_url) as http:
        assert (await http.get("/v1/tasks", headers=kim)).status_code == 200
        revoked = await http.post(
            "/v1/revocations", json={"subject": "kim-revoked"}, headers=bearer("ops", "operator")
        )
        assert revoked.status_code == 201, revoked.text
        refused = await http.get("/v1/tasks", headers=kim)
        assert refused.status_code == 401 and "revoked" in refused.text
        await asyncio.sleep(1.1)  # a token issued after the revocation works
        assert (
            await http.get("/v1/tasks", headers=bearer("kim-revoked", "officer"))
        ).status_code == 200
        assert (await http.get("/v1/tasks", headers=bearer("lee", "officer"))).status_code == 200
