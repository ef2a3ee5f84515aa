"""The OpenAPI description of the service's bodies and answers (what schemathesis checks).

Request bodies stay loose (``{"type": "object"}``): the workspace, not the schema,
checks them, with the vendor's messages. Answers are described exactly: the
vendor's fail body for every refusal, and each endpoint's success shape.
"""

from __future__ import annotations

from typing import Any, Final

from ._bodies import JSON_LINES_TYPES

__all__ = [
    "ACTIVITY",
    "CREATED",
    "MULTI_TRIGGERED",
    "OBJECT_BODY",
    "RAISED",
    "STATS",
    "TRIGGERED",
    "UPLOADED",
    "UPLOAD_BODY",
    "read_responses",
    "write_responses",
]

_COUNT: Final = {"type": "integer", "minimum": 0}

FAIL: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["status", "error", "code"],
    "properties": {
        "status": {"type": "string", "enum": ["fail"]},
        "error": {"type": "string"},
        "code": {"type": "integer", "minimum": 400, "maximum": 499},
    },
}
"""The vendor's fail body: ``{"status": "fail", "error": "...", "code": N}``."""


def _success(required: dict[str, Any], status: tuple[str, ...] = ("success",)) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status", *required],
        "properties": {"status": {"type": "string", "enum": list(status)}, **required},
    }


RAISED: Final = _success({"targets": _COUNT})
TRIGGERED: Final = _success(
    {"campaign_id": {"type": "string"}, "processed": _COUNT, "sent": _COUNT, "skipped": _COUNT}
)
MULTI_TRIGGERED: Final = _success(
    {
        "processed": _COUNT,
        "sent": _COUNT,
        "skipped": _COUNT,
        "campaigns": {"type": "array", "items": {"type": "object"}},
    }
)
CREATED: Final = _success({"id": {"type": "string"}})
UPLOADED: Final = _success(
    {
        "processed": _COUNT,
        "unprocessed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status", "code", "error", "index", "record"],
                "properties": {
                    "status": {"type": "string", "enum": ["fail"]},
                    "code": {"type": "integer"},
                    "error": {"type": "string"},
                    "index": _COUNT,
                },
            },
        },
    },
    status=("success", "partial", "fail"),
)
STATS: Final = _success({"sources": {"type": "array", "items": {"type": "object"}}})
ACTIVITY: Final = _success({"activity": {"type": "array", "items": {"type": "object"}}})

OBJECT_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def write_responses(success: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The answers of an endpoint taking a body: ``success`` or the fail body."""
    return {
        200: _json("Accepted", success),
        400: _json("The vendor's fail body: a malformed or refused request", FAIL),
        401: _json("Missing or wrong credentials", FAIL),
        409: _json("The Idempotency-Key was used with a different body", FAIL),
        413: _json("The body is over the size limit", FAIL),
        429: _json("The account's rate limit is reached (see Retry-After)", FAIL),
    }


def read_responses(success: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The answers of a read-only endpoint: ``success`` or the fail body."""
    return {
        200: _json("The numbers", success),
        400: _json("A query parameter has an incorrect value", FAIL),
        401: _json("Missing or wrong credentials", FAIL),
        429: _json("The account's rate limit is reached (see Retry-After)", FAIL),
    }


UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            **{
                media_type: {"schema": {"type": "string"}}
                for media_type in sorted(JSON_LINES_TYPES)
            },
        },
    }
}
"""``/1/upload``'s body: a JSON object, or JSON Lines as text."""
