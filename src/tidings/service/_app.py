"""The ASGI application: the vendor's REST endpoints over one workspace per account.

Every answer is JSON. Refusals use the vendor's fail shape
``{"status": "fail", "error": "...", "code": N}`` with ``N`` as the HTTP status:
400 for a bad body (malformed JSON, wrong content type, not an object, or what the
workspace refuses), 401 for missing or wrong credentials, 409 for an
``Idempotency-Key`` reused with another body, 413 for a body over the limit, 429
(with ``Retry-After``) past the account's rate limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..workspace import Workspace
from ._accounts import ServiceConfig
from ._bodies import idempotency_key, read_json_object
from ._openapi import (
    ACTIVITY,
    CREATED,
    MULTI_TRIGGERED,
    OBJECT_BODY,
    RAISED,
    STATS,
    TRIGGERED,
    UPLOAD_BODY,
    UPLOADED,
    read_responses,
    write_responses,
)
from ._operations import (
    MessageChannel,
    Operation,
    answering,
    dispatching,
    publish_campaign,
    time_param,
    with_channel,
)
from ._operations import activity as activity_of
from ._operations import stats as stats_of
from ._refused import Refused, fail
from ._tenants import Tenants

__all__ = ["create_app"]


def create_app(config: ServiceConfig) -> FastAPI:
    """The ASGI app serving ``config``'s accounts (run it with uvicorn).

    Each account's SQLite workspace, delivery sink and saved answers are opened on
    its first request and closed when the app shuts down.
    """
    service = Tenants(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="tidings",
        version=__version__,
        description="Vendor-compatible triggered messaging (Bulletins and External Trigger APIs).",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
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
        key = idempotency_key(request)
        body = await read_json_object(request, limit=service.config.max_body_bytes, lines=lines)
        if sends:
            service.check_recipients(body)
        reply = await run_in_threadpool(tenant.run, endpoint, entry, body, key, resumable)
        return JSONResponse(reply.body, status_code=reply.status)

    async def read(request: Request, work: Callable[[Workspace], dict[str, Any]]) -> JSONResponse:
        tenant = service.authenticate(request)
        tenant.admit()

        def run() -> dict[str, Any]:
            with tenant.lock:
                return work(tenant.open().workspace)

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
            dispatching(Workspace.raise_business_event),
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
            dispatching(Workspace.trigger_campaign),
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
            dispatching(Workspace.trigger_campaigns),
            sends=True,
        )

    @app.post(
        "/1/targets/create.json", openapi_extra=OBJECT_BODY, responses=write_responses(CREATED)
    )
    async def create_campaign(request: Request) -> JSONResponse:
        """Publish an External Trigger campaign (Create Campaign body): ``{"status", "id"}``."""
        return await call(request, "targets/create", answering(publish_campaign), resumable=False)

    @app.post(
        "/1/send/{channel}.json", openapi_extra=OBJECT_BODY, responses=write_responses(TRIGGERED)
    )
    async def message_via_identity(channel: MessageChannel, request: Request) -> JSONResponse:
        """Send a message whose content comes in the call (Message via Identity)."""
        return await call(
            request,
            f"send/{channel}",
            dispatching(
                lambda ws, body, *, sink: ws.message_via_identity(
                    with_channel(body, channel), sink=sink
                )
            ),
            sends=True,
        )

    @app.post("/1/upload", openapi_extra=UPLOAD_BODY, responses=write_responses(UPLOADED))
    async def upload(request: Request) -> JSONResponse:
        """Upload profiles and events: ``{"d": [...]}`` or JSON Lines, one record a line."""
        return await call(
            request, "upload", answering(Workspace.upload), lines=True, resumable=False
        )

    @app.get("/1/stats.json", responses=read_responses(STATS))
    async def stats(
        request: Request, id: Annotated[list[str] | None, Query()] = None
    ) -> JSONResponse:
        """Numbers per campaign and bulletin (``id`` repeated: only those)."""
        return await read(request, lambda ws: stats_of(ws, id))

    @app.get("/1/activity.json", responses=read_responses(ACTIVITY))
    async def activity(
        request: Request,
        business_event: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> JSONResponse:
        """The activity log (dispatched bulletins, newest first), optionally filtered."""
        start, stop = time_param("since", since), time_param("until", until)
        return await read(request, lambda ws: activity_of(ws, business_event, start, stop))

    return app
