"""Reading a request: its body as one JSON object or JSON Lines, its ``Idempotency-Key``.

Every problem is a :class:`~tidings.service._refused.Refused`: 413 for a body over
the limit, 400 for the wrong content type, text that is not UTF-8 or not JSON, or a
key that is not 1 to 255 printable characters.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import Request

from ._idempotency import IDEMPOTENCY_HEADER
from ._refused import Refused

__all__ = ["JSON_LINES_TYPES", "idempotency_key", "read_json_object"]

_MAX_KEY_LENGTH: Final = 255
JSON_LINES_TYPES: Final = frozenset({"application/x-ndjson", "application/jsonl"})
"""Content types read as JSON Lines by ``/1/upload`` (one record a line)."""


async def read_json_object(request: Request, *, limit: int, lines: bool = False) -> dict[str, Any]:
    """The body as a JSON object; with ``lines``, JSON Lines are read as ``{"d": [...]}``.

    Raises:
        Refused: The body is over ``limit`` bytes (413) or not what is accepted (400).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(f"Request body is larger than {limit} bytes", 413)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    as_lines = lines and media_type in JSON_LINES_TYPES
    if media_type != "application/json" and not as_lines:
        accepted = "application/json" + (
            " or " + " or ".join(sorted(JSON_LINES_TYPES)) if lines else ""
        )
        raise Refused(f"Content-Type must be {accepted}", 400)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(f"Request body is larger than {limit} bytes", 413)
        chunks.append(chunk)
    if as_lines:
        return {"d": _parse_lines(b"".join(chunks))}
    return _parse_object(b"".join(chunks))


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header, or None without one.

    Raises:
        Refused: The key is empty, longer than 255 characters or not printable (400).
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise Refused(
            f"{IDEMPOTENCY_HEADER} must be 1 to {_MAX_KEY_LENGTH} printable characters", 400
        )
    return key


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str, line: int = 0) -> Any:
    """One JSON document; ``line`` (1-based, 0: the whole body) names a JSON Lines line."""
    where = f"line {line}: " if line else ""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        position = f"column {exc.colno}" if line else f"line {exc.lineno}, column {exc.colno}"
        raise Refused(
            f"Request body is not valid JSON: {where}{exc.msg} ({position})", 400
        ) from None
    except RecursionError:
        deep = "Request body is nested too deeply" + (f" ({where[:-2]})" if line else "")
        raise Refused(deep, 400) from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise Refused(f"Request body is not valid JSON: {where}{exc}", 400) from None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("Request body is not UTF-8 text", 400) from None


def _parse_object(raw: bytes) -> dict[str, Any]:
    value = _parse_json(_decode(raw))
    if not isinstance(value, dict):
        raise Refused("Request body must be a JSON object", 400)
    return value


def _parse_lines(raw: bytes) -> list[Any]:
    """JSON Lines: one JSON value a line; blank lines are skipped."""
    return [
        _parse_json(text, number)
        for number, text in enumerate(_decode(raw).splitlines(), start=1)
        if text.strip()
    ]
