"""The vendor's fail answer, and the signal a handler raises to give one."""

from __future__ import annotations

from fastapi.responses import JSONResponse

__all__ = ["Refused", "fail"]


def fail(error: str, code: int) -> JSONResponse:
    """A vendor-style fail answer with ``code`` as the HTTP status."""
    return JSONResponse({"status": "fail", "error": error, "code": code}, status_code=code)


class Refused(Exception):  # noqa: N818 - a control-flow signal, not an error of the API
    """Raised inside a handler to answer with a fail body (never leaves the service).

    Args:
        error: The fail body's ``error`` text.
        code: The HTTP status, also the fail body's ``code``.
        retry_after: Seconds for a ``Retry-After`` header (429 answers).
    """

    def __init__(self, error: str, code: int, *, retry_after: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.code = code
        self.retry_after = retry_after
