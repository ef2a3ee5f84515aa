"""The base of every tidings error, and the error codes."""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ErrorCode", "TidingsError"]

ErrorCode = Literal[
    "error",
    "template_syntax",
    "unknown_filter",
    "unknown_name",
    "unsafe_output",
    "render_error",
    "undefined_value",
    "limit_exceeded",
    "trigger_data",
    "missing_trigger_key",
    "channel_error",
    "payload_too_large",
    "invalid_webhook_body",
    "header_injection",
    "definition_error",
    "data_error",
    "record_error",
    "profile_error",
    "event_error",
    "argument_error",
]


class TidingsError(Exception):
    """Base class of every error raised by tidings.

    Attributes:
        message: The bare message, without location.
        field: The message field the error belongs to (``email.subject``), if any.
    """

    code: ErrorCode = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state, not by constructor arguments.

        Errors cross process boundaries (dispatch workers, Dask workers), and many
        subclasses take keyword-only or computed constructor arguments that the
        default ``Exception`` pickling (``cls(*args)``) cannot replay.
        """
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[TidingsError], args: tuple[Any, ...], state: dict[str, Any]) -> TidingsError:
    """Recreate a pickled error without calling its ``__init__``."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
