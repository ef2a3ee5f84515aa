"""The accounts behind the app: credentials, rate limits, and one workspace each.

An account's SQLite workspace, delivery sink and saved answers open on its first
request; one call runs at a time per account, and a call with an
``Idempotency-Key`` seen before gets its saved answer instead of running again.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from fastapi import Request

from .._vendor import count_recipients
from ..sinks import JsonLinesSink
from ..workspace import Workspace
from ._accounts import Account, ServiceConfig, hash_passcode
from ._idempotency import IDEMPOTENCY_HEADER, Answer, IdempotencyStore, body_digest
from ._limits import TokenBucket
from ._operations import Operation, Reply
from ._refused import Refused

__all__ = ["ACCOUNT_HEADER", "PASSCODE_HEADER", "Tenant", "TenantFiles", "Tenants"]

logger = logging.getLogger("tidings.service")

ACCOUNT_HEADER: Final = "X-CleverTap-Account-Id"
PASSCODE_HEADER: Final = "X-CleverTap-Passcode"


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


class TenantFiles(NamedTuple):
    """An account's open files: its workspace, its delivery sink, its saved answers."""

    workspace: Workspace
    sink: JsonLinesSink
    answers: IdempotencyStore


@dataclass
class Tenant:
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
            raise Refused(
                f"Too many requests: at most {self.bucket.limit.rate:g} a second "
                f"({self.bucket.limit.burst} at once); retry after {math.ceil(wait)} s",
                429,
                retry_after=math.ceil(wait),
            )

    def open(self) -> TenantFiles:
        """Open the account's files on first use (the caller holds ``lock``)."""
        if self.workspace is None or self.sink is None or self.answers is None:
            self.account.db.parent.mkdir(parents=True, exist_ok=True)
            self.account.sink.parent.mkdir(parents=True, exist_ok=True)
            self.workspace = Workspace.sqlite(self.account.db)
            self.sink = JsonLinesSink(self.account.sink)
            self.answers = IdempotencyStore(self.account.requests_db)
        return TenantFiles(self.workspace, self.sink, self.answers)

    def close(self) -> None:
        """Close the account's files (they open again on the next request)."""
        with self.lock:
            for resource in (self.sink, self.answers, self.workspace):
                if resource is not None:
                    resource.close()
            self.workspace = self.sink = self.answers = None

    def run(
        self,
        endpoint: str,
        entry: Operation,
        body: dict[str, Any],
        key: str | None,
        resumable: bool,
    ) -> Reply:
        """Run one vendor call; with a key, answer a retry from the saved answer.

        For a ``resumable`` call (one that dispatches), the header key is also given to
        the workspace as the body's ``idempotency_key`` (unless the body has one), so a
        request whose answer was lost to a crash is resumed by the workspace, not sent
        again.
        """
        with self.lock:
            workspace, sink, answers = self.open()
            digest = body_digest(body) if key is not None else ""
            if key is not None:
                saved = answers.get(endpoint, key)
                if saved is not None:
                    if saved.digest != digest:
                        raise Refused(
                            f"{IDEMPOTENCY_HEADER} {key!r} was already used with a different body",
                            409,
                        )
                    return Reply(saved.status, saved.body)
                if resumable and "idempotency_key" not in body:
                    body = {**body, "idempotency_key": f"{IDEMPOTENCY_HEADER}:{key}"}
            reply = entry(workspace, body, sink)
            if key is not None:
                answers.put(
                    endpoint, key, Answer(digest=digest, status=reply.status, body=reply.body)
                )
            return reply


class Tenants:
    """The state behind the app: tenants by account id, and the request checks."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.tenants = {aid: Tenant(account) for aid, account in config.accounts.items()}

    def authenticate(self, request: Request) -> Tenant:
        """The tenant whose account id and passcode the request's headers carry.

        Raises:
            Refused: A header is missing, or the account or passcode is wrong (401).
        """
        account_id = request.headers.get(ACCOUNT_HEADER)
        passcode = request.headers.get(PASSCODE_HEADER)
        if not account_id or not passcode:
            raise Refused(f"Missing {ACCOUNT_HEADER} or {PASSCODE_HEADER} header", 401)
        tenant = self.tenants.get(account_id)
        digest = hashlib.sha256(passcode.encode("utf-8", "surrogateescape")).digest()
        if tenant is not None and tenant.verified and hmac.compare_digest(digest, tenant.verified):
            return tenant
        account = tenant.account if tenant is not None else _dummy_account()
        if not account.check(passcode) or tenant is None:
            logger.info("refused credentials for account %r", account_id)
            raise Refused("Invalid Credentials", 401)
        tenant.verified = digest
        return tenant

    def check_recipients(self, body: dict[str, Any]) -> None:
        """Refuse a call naming more recipients than the service allows (all campaigns)."""
        count = count_recipients(body)
        limit = self.config.max_recipients_per_call
        if count > limit:
            raise Refused(f"Too many recipients: {count} (at most {limit} per call)", 400)

    def close(self) -> None:
        """Close every account's files."""
        for tenant in self.tenants.values():
            tenant.close()
