"""The ASGI application: the vendor's REST endpoints over one workspace per account.

Every answer is JSON. Refusals use the vendor's fail shape
``{"status": "fail", "error": "...", "code": N}`` with ``N`` as the HTTP status:
400 for a bad body (malformed JSON, wrong content type, not an object, or what the
workspace refuses), 401 for missing or wrong credentials, 409 for an
``Idempotency-Key`` reused with another body, 413 for a body over the limit.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..models.records import Dispatch
from ..sinks import JsonLinesSink
from ..workspace import Workspace
from ._accounts import Account, ServiceConfig, hash_passcode
from ._idempotency import Answer, IdempotencyStore, body_digest

__all__ = ["create_app"]

logger = logging.getLogger("tidings.service")

ACCOUNT_HEADER: Final = "X-CleverTap-Account-Id"
PASSCODE_HEADER: Final = "X-CleverTap-Passcode"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_MAX_KEY_LENGTH: Final = 255


@functools.cache
def _dummy_account() -> Account:
    """Checked for an unknown account id, so that it costs as much as a wrong passcode."""
    return Account(
        id="",
        passcode_hash=hash_passcode(secrets.token_urlsafe(16)),
        db=Path(),
        sink=Path(),
        requests_db=Path(),
    )


def fail(error: str, code: int) -> JSONResponse:
    """A vendor-style fail answer with ``code`` as the HTTP status."""
    return JSONResponse({"status": "fail", "error": error, "code": code}, status_code=code)


class _Refused(Exception):  # noqa: N818 - a control-flow signal, not an error of the API
    """Raised inside a handler to answer with a fail body (never leaves this module)."""

    def __init__(self, error: str, code: int) -> None:
        super().__init__(error)
        self.error = error
        self.code = code


@dataclass
class _Tenant:
    """An account's open workspace, sink and saved answers; one dispatch at a time."""

    account: Account
    lock: threading.Lock = field(default_factory=threading.Lock)
    workspace: Workspace | None = None
    sink: JsonLinesSink | None = None
    answers: IdempotencyStore | None = None
    # The digest of the last passcode that verified: spares scrypt on every request.
    verified: bytes = b""

    def open(self) -> tuple[Workspace, JsonLinesSink, IdempotencyStore]:
        """Open the account's files on first use (the caller holds ``lock``)."""
        if self.workspace is None or self.sink is None or self.answers is None:
            self.account.db.parent.mkdir(parents=True, exist_ok=True)
            self.account.sink.parent.mkdir(parents=True, exist_ok=True)
            self.workspace = Workspace.sqlite(self.account.db)
            self.sink = JsonLinesSink(self.account.sink)
            self.answers = IdempotencyStore(self.account.requests_db)
        return self.workspace, self.sink, self.answers

    def close(self) -> None:
        with self.lock:
            for resource in (self.sink, self.answers, self.workspace):
                if resource is not None:
                    resource.close()
            self.workspace = self.sink = self.answers = None


class _Service:
    """The state behind the app: tenants by account id, and the request checks."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.tenants = {aid: _Tenant(account) for aid, account in config.accounts.items()}

    def authenticate(self, request: Request) -> _Tenant:
        account_id = request.headers.get(ACCOUNT_HEADER)
        passcode = request.headers.get(PASSCODE_HEADER)
        if not account_id or not passcode:
            raise _Refused(f"Missing {ACCOUNT_HEADER} or {PASSCODE_HEADER} header", 401)
        tenant = self.tenants.get(account_id)
        digest = hashlib.sha256(passcode.encode("utf-8", "surrogateescape")).digest()
        if tenant is not None and tenant.verified and hmac.compare_digest(digest, tenant.verified):
            return tenant
        account = tenant.account if tenant is not None else _dummy_account()
        if not account.check(passcode) or tenant is None:
            logger.info("refused credentials for account %r", account_id)
            raise _Refused("Invalid Credentials", 401)
        tenant.verified = digest
        return tenant

    async def read_json_object(self, request: Request) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Refused(f"Request body is larger than {limit} bytes", 413)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise _Refused("Content-Type must be application/json", 400)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refused(f"Request body is larger than {limit} bytes", 413)
            chunks.append(chunk)
        return _parse_object(b"".join(chunks))


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise _Refused("Request body is not UTF-8 text", 400) from None
    except json.JSONDecodeError as exc:
        raise _Refused(
            f"Request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            400,
        ) from None
    except RecursionError:
        raise _Refused("Request body is nested too deeply", 400) from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise _Refused(f"Request body is not valid JSON: {exc}", 400) from None
    if not isinstance(value, dict):
        raise _Refused("Request body must be a JSON object", 400)
    return value


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise _Refused(
            f"{IDEMPOTENCY_HEADER} must be 1 to {_MAX_KEY_LENGTH} printable characters", 400
        )
    return key


def _answer(result: Dispatch) -> tuple[int, dict[str, Any]]:
    body = dict(result.response)
    if result.ok:
        return 200, body
    code = body.get("code")
    return (code if isinstance(code, int) and 400 <= code < 500 else 400), body


Entry = Callable[[Workspace, dict[str, Any], JsonLinesSink], Dispatch]


def _dispatch(
    tenant: _Tenant, endpoint: str, entry: Entry, body: dict[str, Any], key: str | None
) -> tuple[int, dict[str, Any]]:
    """Run one vendor call for ``tenant``; with a key, answer a retry from the saved answer.

    The header key is also given to the workspace as the body's ``idempotency_key``
    (unless the body has one), so a request whose answer was lost to a crash is
    resumed by the workspace, not sent again.
    """
    with tenant.lock:
        workspace, sink, answers = tenant.open()
        digest = body_digest(body) if key is not None else ""
        if key is not None:
            saved = answers.get(endpoint, key)
            if saved is not None:
                if saved.digest != digest:
                    raise _Refused(
                        f"{IDEMPOTENCY_HEADER} {key!r} was already used with a different body",
                        409,
                    )
                return saved.status, saved.body
            if "idempotency_key" not in body:
                body = {**body, "idempotency_key": f"{IDEMPOTENCY_HEADER}:{key}"}
        status, answer = _answer(entry(workspace, body, sink))
        if key is not None:
            answers.put(endpoint, key, Answer(digest=digest, status=status, body=answer))
        return status, answer


_OBJECT_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_VENDOR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"description": "The vendor's fail body: a malformed or refused request"},
    401: {"description": "Missing or wrong credentials"},
    409: {"description": "The Idempotency-Key was used with a different body"},
    413: {"description": "The body is over the size limit"},
}


def create_app(config: ServiceConfig) -> FastAPI:
    """The ASGI app serving ``config``'s accounts (run it with uvicorn).

    Each account's SQLite workspace, delivery sink and saved answers are opened on
    its first request and closed when the app shuts down.
    """
    service = _Service(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for tenant in service.tenants.values():
            tenant.close()

    app = FastAPI(
        title="tidings",
        version=__version__,
        description="Vendor-compatible triggered messaging (Bulletins and External Trigger APIs).",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(_Refused)
    async def refused(_: Request, exc: _Refused) -> JSONResponse:
        return fail(exc.error, exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return fail(str(exc.detail), exc.status_code)

    async def call(request: Request, endpoint: str, entry: Entry) -> JSONResponse:
        tenant = service.authenticate(request)
        key = _idempotency_key(request)
        body = await service.read_json_object(request)
        status, answer = await run_in_threadpool(_dispatch, tenant, endpoint, entry, body, key)
        return JSONResponse(answer, status_code=status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no credentials needed)."""
        return {"status": "ok"}

    @app.post("/1/targets/trigger.json", openapi_extra=_OBJECT_BODY, responses=_VENDOR_RESPONSES)
    async def raise_business_event(request: Request) -> JSONResponse:
        """Raise a business event (Bulletins API): ``{"status": "success", "targets": N}``."""
        return await call(
            request,
            "targets/trigger",
            lambda ws, body, sink: ws.raise_business_event(body, sink=sink),
        )

    @app.post(
        "/1/send/externaltrigger.json", openapi_extra=_OBJECT_BODY, responses=_VENDOR_RESPONSES
    )
    async def trigger_campaign(request: Request) -> JSONResponse:
        """Trigger one External Trigger campaign for its recipients."""
        return await call(
            request,
            "send/externaltrigger",
            lambda ws, body, sink: ws.trigger_campaign(body, sink=sink),
        )

    @app.post(
        "/2/send/externaltrigger.json", openapi_extra=_OBJECT_BODY, responses=_VENDOR_RESPONSES
    )
    async def trigger_campaigns(request: Request) -> JSONResponse:
        """Trigger up to 5 External Trigger campaigns, each for its recipients, in one call."""
        return await call(
            request,
            "send/externaltrigger/2",
            lambda ws, body, sink: ws.trigger_campaigns(body, sink=sink),
        )

    return app
