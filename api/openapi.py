"""The OpenAPI 3.1 document, built from the route table and the operations' pydantic models,
served at ``/openapi.json``, and a plain HTML page at ``/docs`` that lists it (no CDN)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bounceback.api.auth.guard import public
from bounceback.api.openapi_table import OPERATIONS, Op

REF = "#/components/schemas/{model}"
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
REASONS = {
    400: "Malformed request",
    401: "No, unknown or revoked credentials",
    403: "The credential's role is too weak (or a webhook signature is wrong)",
    404: "No such object",
    409: "The object's state does not allow it",
    413: "Body too large",
    422: "A parameter or the body failed validation; details name each field",
    429: "Too many failed authentications from this client; retry after Retry-After seconds",
    503: "Not ready, or shutting down",
}


def operations(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str, Route]]:
    """Every (method, path, route) of the API, HEAD left out. The dashboard's pages (HTML for
    browsers signed in with a session cookie, ``api/dashboard/web.py``) are not API."""
    for route in routes:
        page = hasattr(route, "endpoint") and (
            hasattr(route.endpoint, "dashboard_role")
            or getattr(route.endpoint, "dashboard_public", False)
        )
        if isinstance(route, Route) and not page:
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, route.path, route


def openapi_path(path: str) -> str:
    """Starlette's ``{id:int}`` and ``{target:path}`` as OpenAPI's ``{id}`` and ``{target}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _access(route: Route) -> tuple[list[dict[str, list[str]]], str, list[int]]:
    """Security requirement, a sentence for people, and the auth errors it can answer."""
    endpoint = route.endpoint
    role = getattr(endpoint, "required_role", None)
    if role is not None:
        return [{"bearer": []}], f"Needs a token with the {role.value} role.", [401, 403, 429]
    kind = getattr(endpoint, "intake_kind", None)
    if kind is not None:
        text = f"Needs a {kind} integration key or an operator token."
        return [{"bearer": []}], text, [401, 403, 429]
    assert getattr(endpoint, "public", False), f"{route.path} declares no access"
    return [], "No token: public, or the request is signed.", []


def _parameter(path: str, name: str, op: Op) -> dict[str, Any]:
    """A path parameter as ``op.params`` describes it; else an ``{id:int}`` route's is an
    integer, any other a string."""
    schema: Mapping[str, Any] = {"type": "string"}
    if name in op.params:
        schema = op.params[name]
    elif re.search(rf"\{{{name}:int\}}", path):
        schema = {"type": "integer", "minimum": 0}
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def _error(code: int, content: Mapping[str, Any] | None = None) -> dict[str, Any]:
    content = content or {"application/json": {"schema": ERROR}}
    return {"description": REASONS.get(code, "Error"), "content": dict(content)}


def _operation(
    method: str, path: str, route: Route, op: Op, refs: Mapping[Any, dict[str, Any]]
) -> dict[str, Any]:
    security, access, auth_errors = _access(route)
    params = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    # The operation's own errors (a missing object, a malformed path parameter) may have a
    # content of their own (an HTML page, OFREP's error); the guard's are always JSON.
    own = {*op.errors, *([404] if params else []), *([422] if op.params or op.query else [])}
    errors = {code: _error(code) for code in auth_errors}
    errors |= {code: _error(code, op.error_content) for code in sorted(own)}
    success = str(op.status)
    content: dict[str, Any]
    if op.text:
        content = {op.text: {"schema": {"type": "string"}}}
    else:
        schema = refs[(op.response, "serialization")] if op.response else {"type": "object"}
        content = {"application/json": {"schema": schema}}
    document: dict[str, Any] = {
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "summary": op.summary,
        "description": access,
        "security": security,
        "parameters": [_parameter(path, name, op) for name in params]
        + [
            {"name": name, "in": "query", "required": False, "schema": dict(schema)}
            for name, schema in op.query.items()
        ],
        "responses": {
            success: {"description": "Success"}
            | ({} if op.status == 204 else {"content": content}),
            **{str(code): errors[code] for code in sorted(errors)},
        },
    }
    role = getattr(route.endpoint, "required_role", None)
    if role is not None:
        document["x-required-role"] = role.value
    if op.request is not None or op.form:
        media = "application/x-www-form-urlencoded" if op.form else "application/json"
        body = refs[(op.request, "validation")] if op.request else {"type": "object"}
        document["requestBody"] = {"required": True, "content": {media: {"schema": body}}}
        for code in (400, 413, 422):
            document["responses"][str(code)] = _error(code)
    return document


def build(routes: Sequence[BaseRoute], version: str) -> dict[str, Any]:
    listed = list(operations(routes))
    missing = [f"{m} {p}" for m, p, _ in listed if (m, openapi_path(p)) not in OPERATIONS]
    if missing:
        raise LookupError(f"routes missing from api/openapi_table.py: {', '.join(missing)}")
    wanted: set[tuple[type[BaseModel], JsonSchemaMode]] = set()
    for method, path, _ in listed:
        op = OPERATIONS[(method, openapi_path(path))]
        if op.request is not None:
            wanted.add((op.request, "validation"))
        if op.response is not None:
            wanted.add((op.response, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__module__, pair[0].__name__, pair[1]))
    refs, defs = models_json_schema(ordered, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, route in listed:
        op = OPERATIONS[(method, openapi_path(path))]
        item = paths.setdefault(openapi_path(path), {})
        item[method.lower()] = _operation(method, path, route, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bounceback hub", "version": version},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **defs.get("$defs", {})},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _document(request: Request) -> dict[str, Any]:
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = build(request.app.routes, _version())
        request.app.state.openapi = cached
    return cached


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bounceback")
    except PackageNotFoundError:
        return "0"


@public
async def openapi_json(request: Request) -> Response:
    return JSONResponse(_document(request))


@public
async def docs(request: Request) -> Response:
    rows = []
    for path, item in _document(request)["paths"].items():
        for method, op in item.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(op['summary'])}</td>"
                f"<td>{html.escape(op['description'])}</td></tr>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Bounceback API</title>"
        "<meta name='viewport' content='width=device-width'>"
        "<style>body{font-family:sans-serif;margin:1rem}td{padding:.2rem .6rem;"
        "border-bottom:1px solid #ddd;vertical-align:top}</style></head><body>"
        "<h1>Bounceback hub API</h1><p>The machine-readable document: "
        "<a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"
        "<table><thead><tr><th>Method</th><th>Path</th><th>What</th><th>Access</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
    return HTMLResponse(page)


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
