"""Reading a JSON request body into a pydantic model, with errors that name the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from bounceback.api.errors import BadRequest, Invalid

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": field_path(error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


def raise_invalid(exc: ValidationError) -> None:
    details = validation_details(exc)
    if any(error["type"] == "json_invalid" for error in details):
        raise BadRequest(
            "request body is not valid JSON",
            [{"field": "body", "message": details[0]["message"]}],
            code="invalid_json",
        )
    if any(error["type"] == "model_type" and error["field"] == "body" for error in details):
        raise BadRequest("request body must be a JSON object", details, code="invalid_json")
    first = details[0]
    raise Invalid(f"invalid field '{first['field']}': {first['message']}", details)


async def parse_json(request: Request, model: type[M], *, empty_ok: bool = False) -> M:
    body = await request.body()
    if not body or body.isspace():
        if empty_ok:
            return model()
        raise BadRequest("request body is empty; expected a JSON object", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise_invalid(exc)
        raise  # unreachable: raise_invalid always raises
