"""The ASGI application: the vendor's REST endpoints over one workspace per account.

Every answer is JSON. Refusals use the vendor's fail shape
``{"status": "fail", "error": "...", "code": N}`` with ``N`` as the HTTP status:
400 for a bad body (malformed JSON, wrong content type, not an object, or what the
workspace refuses), 401 for missing or wrong credentials, 409 for an
``Idempotency-Key`` reused with another body, 413 for a body over the limit, 429
(with ``Retry-After``) past the account's rate limit.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .._vendor import count_recipients
from ..errors import TidingsError
from ..models.records import Dispatch
from ..sinks import JsonLinesSink
from ..stats import activity_log, compute_stats
from ..stats.activity import parse_time
from ..workspace import Workspace
from ._accounts import Account, ServiceConfig, hash_passcode
from ._idempotency import Answer, IdempotencyStore, body_digest
from ._limits import TokenBucket
from ._openapi import (
    ACTIVITY,
    CREATED,
    MULTI_TRIGGERED,
    OBJECT_BODY,
    RAISED,
    STATS,
    TRIGGERED,
    UPLOADED,
    read_responses,
    write_responses,
)

__all__ = ["create_app"]

logger = logging.getLogger("tidings.service")

ACCOUNT_HEADER: Final = "X-CleverTap-Account-Id"
PASSCODE_HEADER: Final = "X-CleverTap-Passcode"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_MAX_KEY_LENGTH: Final = 255
JSON_LINES_TYPES: Final = frozenset({"application/x-ndjson", "application/jsonl"})
"""Content types read as JSON Lines by ``/1/upload`` (one record a line)."""


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

    def __init__(self, error: str, code: int, *, retry_after: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.code = code
        self.retry_after = retry_after


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
    bucket: TokenBucket | None = None

    def __post_init__(self) -> None:
        if self.account.rate_limit is not None:
            self.bucket = TokenBucket(self.account.rate_limit)

    def admit(self) -> None:
        """Take a request token; an empty bucket is a 429 with ``Retry-After``."""
        if self.bucket is None:
            return
        wait = self.bucket.take()
        if wait > 0:
            logger.info("rate limit: account %r must wait %.2f s", self.account.id, wait)
            raise _Refused(
                f"Too many requests: at most {self.bucket.limit.rate:g} a second "
                f"({self.bucket.limit.burst} at once); retry after {math.ceil(wait)} s",
                429,
                retry_after=math.ceil(wait),
            )

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

    def check_recipients(self, body: dict[str, Any]) -> None:
        """Refuse a call naming more recipients than the service allows (all campaigns)."""
        count = count_recipients(body)
        limit = self.config.max_recipients_per_call
        if count > limit:
            raise _Refused(f"Too many recipients: {count} (at most {limit} per call)", 400)

    async def read_json_object(self, request: Request, *, lines: bool = False) -> dict[str, Any]:
        """The body as a JSON object; with ``lines``, JSON Lines are read as ``{"d": [...]}``."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Refused(f"Request body is larger than {limit} bytes", 413)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        as_lines = lines and media_type in JSON_LINES_TYPES
        if media_type != "application/json" and not as_lines:
            accepted = "application/json" + (
                " or " + " or ".join(sorted(JSON_LINES_TYPES)) if lines else ""
            )
            raise _Refused(f"Content-Type must be {accepted}", 400)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refused(f"Request body is larger than {limit} bytes", 413)
            chunks.append(chunk)
        if as_lines:
            return {"d": _parse_lines(b"".join(chunks))}
        return _parse_object(b"".join(chunks))


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str, line: int = 0) -> Any:
    """One JSON document; ``line`` (1-based, 0: the whole body) names a JSON Lines line."""
    where = f"line {line}: " if line else ""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        position = f"column {exc.colno}" if line else f"line {exc.lineno}, column {exc.colno}"
        raise _Refused(
            f"Request body is not valid JSON: {where}{exc.msg} ({position})", 400
        ) from None
    except RecursionError:
        deep = "Request body is nested too deeply" + (f" ({where[:-2]})" if line else "")
        raise _Refused(deep, 400) from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise _Refused(f"Request body is not valid JSON: {where}{exc}", 400) from None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("Request body is not UTF-8 text", 400) from None


def _parse_object(raw: bytes) -> dict[str, Any]:
    value = _parse_json(_decode(raw))
    if not isinstance(value, dict):
        raise _Refused("Request body must be a JSON object", 400)
    return value


def _parse_lines(raw: bytes) -> list[Any]:
    """JSON Lines: one JSON value a line; blank lines are skipped."""
    return [
        _parse_json(text, number)
        for number, text in enumerate(_decode(raw).splitlines(), start=1)
        if text.strip()
    ]


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
Operation = Callable[[Workspace, dict[str, Any], JsonLinesSink], tuple[int, dict[str, Any]]]


def _dispatching(entry: Entry) -> Operation:
    """An operation answering with a dispatch's response (its fail code as the status)."""
    return lambda ws, body, sink: _answer(entry(ws, body, sink))


def _answering(work: Callable[[Workspace, dict[str, Any]], dict[str, Any]]) -> Operation:
    """An operation answering with ``work``'s vendor body (a fail body's ``code`` as status)."""

    def run(ws: Workspace, body: dict[str, Any], _: JsonLinesSink) -> tuple[int, dict[str, Any]]:
        answer = work(ws, body)
        code = answer.get("code") if answer.get("status") == "fail" else None
        return (code if isinstance(code, int) else 200), answer

    return run


def _dispatch(
    tenant: _Tenant,
    endpoint: str,
    entry: Operation,
    body: dict[str, Any],
    key: str | None,
    resumable: bool,
) -> tuple[int, dict[str, Any]]:
    """Run one vendor call for ``tenant``; with a key, answer a retry from the saved answer.

    For a ``resumable`` call (one that dispatches), the header key is also given to
    the workspace as the body's ``idempotency_key`` (unless the body has one), so a
    request whose answer was lost to a crash is resumed by the workspace, not sent
    again.
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
            if resumable and "idempotency_key" not in body:
                body = {**body, "idempotency_key": f"{IDEMPOTENCY_HEADER}:{key}"}
        status, answer = entry(workspace, body, sink)
        if key is not None:
            answers.put(endpoint, key, Answer(digest=digest, status=status, body=answer))
        return status, answer


class MessageChannel(StrEnum):
    """The channels of the Message via Identity endpoints (``/1/send/<channel>.json``)."""

    PUSH = "push"
    EMAIL = "email"
    WEBHOOK = "webhook"


def _with_channel(body: dict[str, Any], channel: MessageChannel) -> dict[str, Any]:
    """The body with ``content.channel`` set from the path (a body that names one keeps it)."""
    content = body.get("content")
    if isinstance(content, dict) and "channel" not in content:
        return {**body, "content": {**content, "channel": channel.value}}
    return body


def _publish_campaign(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    try:
        campaign_id = ws.publish_campaign(body)
    except TidingsError as exc:
        return Dispatch.fail(str(exc)).response
    return {"status": "success", "id": campaign_id}


def _stats(ws: Workspace, ids: list[str] | None) -> dict[str, Any]:
    numbers = compute_stats(ws, sources=ids).to_dict()
    numbers.pop("activity", None)  # served by /1/activity.json
    return {"status": "success", **numbers}


def _activity(
    ws: Workspace, business_event: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    entries = activity_log(ws, business_event=business_event, since=since, until=until)
    return {"status": "success", "activity": entries}


def _time_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise _Refused(f'"{name}" has an incorrect value - {value[:80]}', 400)
    return moment


_UPLOAD_BODY: Final[dict[str, Any]] = {
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
        answer = fail(exc.error, exc.code)
        if exc.retry_after is not None:
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {}
        parts = [str(part) for part in first.get("loc", ()) if part not in ("path", "query")]
        where = ".".join(parts)
        return fail(f'"{where}" has an incorrect value - {first.get("msg", "invalid")}', 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return fail(str(exc.detail), exc.status_code)

    async def call(
        request: Request,
        endpoint: str,
        entry: Operation,
        *,
        lines: bool = False,
        sends: bool = False,
        resumable: bool = True,
    ) -> JSONResponse:
        tenant = service.authenticate(request)
        tenant.admit()
        key = _idempotency_key(request)
        body = await service.read_json_object(request, lines=lines)
        if sends:
            service.check_recipients(body)
        status, answer = await run_in_threadpool(
            _dispatch, tenant, endpoint, entry, body, key, resumable
        )
        return JSONResponse(answer, status_code=status)

    async def read(request: Request, work: Callable[[Workspace], dict[str, Any]]) -> JSONResponse:
        tenant = service.authenticate(request)
        tenant.admit()

        def run() -> dict[str, Any]:
            with tenant.lock:
                workspace, _, _ = tenant.open()
                return work(workspace)

        return JSONResponse(await run_in_threadpool(run))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no credentials needed)."""
        return {"status": "ok"}

    @app.post(
        "/1/targets/trigger.json", openapi_extra=OBJECT_BODY, responses=write_responses(RAISED)
    )
    async def raise_business_event(request: Request) -> JSONResponse:
        """Raise a business event (Bulletins API): ``{"status": "success", "targets": N}``."""
        return await call(
            request,
            "targets/trigger",
            _dispatching(lambda ws, body, sink: ws.raise_business_event(body, sink=sink)),
        )

    @app.post(
        "/1/send/externaltrigger.json",
        openapi_extra=OBJECT_BODY,
        responses=write_responses(TRIGGERED),
    )
    async def trigger_campaign(request: Request) -> JSONResponse:
        """Trigger one External Trigger campaign for its recipients."""
        return await call(
            request,
            "send/externaltrigger",
            _dispatching(lambda ws, body, sink: ws.trigger_campaign(body, sink=sink)),
            sends=True,
        )

    @app.post(
        "/2/send/externaltrigger.json",
        openapi_extra=OBJECT_BODY,
        responses=write_responses(MULTI_TRIGGERED),
    )
    async def trigger_campaigns(request: Request) -> JSONResponse:
        """Trigger up to 5 External Trigger campaigns, each for its recipients, in one call."""
        return await call(
            request,
            "send/externaltrigger/2",
            _dispatching(lambda ws, body, sink: ws.trigger_campaigns(body, sink=sink)),
            sends=True,
        )

    @app.post(
        "/1/targets/create.json", openapi_extra=OBJECT_BODY, responses=write_responses(CREATED)
    )
    async def create_campaign(request: Request) -> JSONResponse:
        """Publish an External Trigger campaign (Create Campaign body): ``{"status", "id"}``."""
        return await call(request, "targets/create", _answering(_publish_campaign), resumable=False)

    @app.post(
        "/1/send/{channel}.json", openapi_extra=OBJECT_BODY, responses=write_responses(TRIGGERED)
    )
    async def message_via_identity(channel: MessageChannel, request: Request) -> JSONResponse:
        """Send a message whose content comes in the call (Message via Identity)."""
        return await call(
            request,
            f"send/{channel}",
            _dispatching(
                lambda ws, body, sink: ws.message_via_identity(
                    _with_channel(body, channel), sink=sink
                )
            ),
            sends=True,
        )

    @app.post("/1/upload", openapi_extra=_UPLOAD_BODY, responses=write_responses(UPLOADED))
    async def upload(request: Request) -> JSONResponse:
        """Upload profiles and events: ``{"d": [...]}`` or JSON Lines, one record a line."""
        return await call(
            request, "upload", _answering(Workspace.upload), lines=True, resumable=False
        )

    @app.get("/1/stats.json", responses=read_responses(STATS))
    async def stats(
        request: Request, id: Annotated[list[str] | None, Query()] = None
    ) -> JSONResponse:
        """Numbers per campaign and bulletin (``id`` repeated: only those)."""
        return await read(request, lambda ws: _stats(ws, id))

    @app.get("/1/activity.json", responses=read_responses(ACTIVITY))
    async def activity(
        request: Request,
        business_event: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> JSONResponse:
        """The activity log (dispatched bulletins, newest first), optionally filtered."""
        start, stop = _time_param("since", since), _time_param("until", until)
        return await read(request, lambda ws: _activity(ws, business_event, start, stop))

    return app
