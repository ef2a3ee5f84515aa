"""A pydantic base model whose validation errors are tidings errors.

pydantic raises its own ``ValidationError``; the contract is that a public
function given bad input raises a :class:`~tidings.errors.TidingsError`. Models
built on :class:`ValidatedModel` convert the error in ``__init__`` and
``model_validate`` (the two ways callers build them), keeping pydantic's error
as ``__cause__`` and its error list on ``errors``. Nested models are validated
by pydantic-core directly, so only the outermost model converts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ValidationError

from ..errors import DataError, TemplateError, _InvalidInputError

__all__ = ["ValidatedModel", "field_path", "from_validation_error", "tidings_errors"]


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's ``loc`` as a dotted path: ``("filters", 0, "days")`` -> ``filters.0.days``."""
    return ".".join(str(part) for part in loc)


def _join(prefix: str, rest: str | None) -> str:
    if not rest:
        return prefix
    if not prefix or rest.startswith(prefix):
        return rest
    return f"{prefix}.{rest}"


def _first_problem(exc: ValidationError) -> tuple[str, str, list[dict[str, Any]]]:
    """(dotted field, reason, error list) of pydantic's first error.

    A nested :class:`ValidatedModel` (pydantic calls a custom ``__init__`` while
    validating the outer model) or a validator raises a tidings error, which
    pydantic wraps; its field is joined to the outer location and its own list
    replaces pydantic's single wrapping entry.
    """
    errors: list[dict[str, Any]] = [
        dict(e) for e in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    where = field_path(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _InvalidInputError):
        nested = [{**e, "loc": (*first["loc"], *e.get("loc", ()))} for e in cause.errors]
        return _join(where, cause.field), cause.reason, nested + errors[1:]
    if isinstance(cause, DataError):
        return _join(where, cause.field), cause.message, errors
    return where, str(first["msg"]).removeprefix("Value error, "), errors


def from_validation_error(
    exc: ValidationError,
    error_type: type[_InvalidInputError],
    what: str,
) -> _InvalidInputError:
    """A ``error_type`` describing pydantic's first error, with the full list on ``errors``.

    A :class:`DataError` raised by a validator (a surrogate, a cycle) keeps its
    own path inside the field: ``properties.items[3]``.
    """
    where, reason, errors = _first_problem(exc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_type(
        f"invalid {what}: {reason}{more}", field=where or None, errors=errors, reason=reason
    )


_DEPTH: ContextVar[int] = ContextVar("tidings_validation_depth", default=0)
"""How many tidings validations are running in this context (models nest)."""


@contextmanager
def tidings_errors(error_type: type[_InvalidInputError], what: str) -> Iterator[None]:
    """Turn pydantic's ``ValidationError`` into a tidings error, at the outermost level only.

    pydantic calls a model's custom ``__init__`` for nested models too, and
    merges a ``ValidationError`` raised there into the outer one with the right
    location; so nested validations let pydantic's error through and the
    outermost one converts: a ``TemplateError`` inside is raised as is (keeping
    the engine's error as its cause), anything else becomes ``error_type``.
    """
    outermost = _DEPTH.get() == 0
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        yield
    except ValidationError as exc:
        if not outermost:
            raise
        for detail in exc.errors(include_url=False, include_input=False):
            cause = (detail.get("ctx") or {}).get("error")
            if isinstance(cause, TemplateError):
                raise cause from cause.__cause__
        raise from_validation_error(exc, error_type, what) from exc
    finally:
        _DEPTH.reset(token)


class ValidatedModel(BaseModel):
    """A pydantic model that raises ``_error_type`` instead of ``ValidationError``."""

    _error_type: ClassVar[type[_InvalidInputError]]
    _what: ClassVar[str] = "value"

    def __init__(self, /, **data: Any) -> None:
        with tidings_errors(self._error_type, self._what):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj``; a problem raises ``_error_type`` naming the field."""
        with tidings_errors(cls._error_type, cls._what):
            return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate JSON text; a problem raises ``_error_type`` naming the field."""
        with tidings_errors(cls._error_type, cls._what):
            return super().model_validate_json(json_data, **kwargs)
