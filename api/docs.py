"""API documentation that works offline: Swagger UI at /docs and ReDoc at /redoc, their
scripts, styles and icon served by the API itself from the ``fastapi-offline`` package
(Swagger UI 5 and ReDoc 2 bundles); nothing is fetched from a CDN or Google Fonts."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS = files("fastapi_offline") / "static"
# Swagger UI sends the spec to an online validator unless told not to.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}

# ReDoc's sidebar footer loads the Redocly logo from a CDN; offline that is a failed request
# (the logo is then left out). It is left out from the start: an image that cannot load.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
NO_IMAGE = b"data:,"

# FastAPI's own error bodies, described like every other schema.
_VALIDATION_ERROR_FIELDS = {
    "HTTPValidationError": {"detail": "One entry per field that was refused."},
    "ValidationError": {
        "loc": "Where the problem is: body, query or path, then the field's name.",
        "msg": "What is wrong with the value.",
        "type": "The kind of error, e.g. missing or string_too_long.",
        "input": "Not echoed back by this API (it may be personal data).",
        "ctx": "Particulars of the error, such as the limit exceeded.",
    },
}


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; describe FastAPI's own error schemas.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """

    # Before the mount, so that it answers for this one file.
    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(redoc_script(), media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe_validation_errors(generate())  # FastAPI keeps it in app.openapi_schema
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


@cache
def redoc_script() -> bytes:
    """The packaged ReDoc bundle, with its one CDN image left out."""
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, NO_IMAGE)


def describe_validation_errors(schema: dict[str, Any]) -> None:
    """Add descriptions to the properties of FastAPI's validation error schemas."""
    components = schema.get("components", {}).get("schemas", {})
    for name, fields in _VALIDATION_ERROR_FIELDS.items():
        properties = components.get(name, {}).get("properties", {})
        for field, description in fields.items():
            if field in properties:
                properties[field].setdefault("description", description)
