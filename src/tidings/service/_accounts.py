"""Service accounts: a TOML config file, scrypt-hashed passcodes, constant-time checks.

The config file (``tidings serve --config service.toml``)::

    [service]
    data_dir = "service-data"        # relative to the config file
    max_body_bytes = 1048576         # larger request bodies get 413
    max_recipients_per_call = 1000   # recipients named in one call (all campaigns together)
    rate_limit = 100                 # requests a second per account (0: no limit) ...
    rate_burst = 200                 # ... and at once after a pause; more get 429

    [[accounts]]
    id = "ACCOUNT_ID"
    passcode = "scrypt$16384$8$1$<salt b64>$<hash b64>"   # tidings serve --hash-passcode
    db = "acme.db"                   # optional: default <data_dir>/<id>/tidings.db
    sink = "acme-deliveries.jsonl"   # optional: default <data_dir>/<id>/deliveries.jsonl
    rate_limit = 500                 # optional: this account's own limit (and rate_burst)

Passcodes are stored only as scrypt hashes (:func:`hash_passcode`); a plain or
malformed passcode entry is refused when the file is loaded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import ArgumentError
from ._limits import RateLimit

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_RECIPIENTS",
    "DEFAULT_RATE_LIMIT",
    "Account",
    "ServiceConfig",
    "hash_passcode",
    "load_config",
    "verify_passcode",
]

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20
"""Request bodies above this size (1 MiB) are refused with 413 unless configured."""

DEFAULT_MAX_RECIPIENTS: Final = 1000
"""Recipients one call may name (the vendor's limit per call) unless configured."""

DEFAULT_RATE_LIMIT: Final = RateLimit(rate=100.0, burst=200)
"""Requests per account: 100 a second, 200 at once, unless configured."""

# scrypt cost: RFC 7914's interactive parameters (about 16 MiB and tens of ms per check).
_SCRYPT_N: Final = 1 << 14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SCHEME: Final = "scrypt"


def _scrypt(passcode: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passcode.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


def hash_passcode(passcode: str) -> str:
    """The scrypt hash of ``passcode`` to put in the config file (a fresh random salt).

    Raises:
        ArgumentError: ``passcode`` is empty.
    """
    if not passcode:
        raise ArgumentError("a passcode must not be empty", field="passcode")
    salt = secrets.token_bytes(16)
    digest = _scrypt(passcode, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        [
            _SCHEME,
            str(_SCRYPT_N),
            str(_SCRYPT_R),
            str(_SCRYPT_P),
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        ]
    )


@dataclass(frozen=True, slots=True)
class _Hash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _parse_hash(stored: str, field: str) -> _Hash:
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != _SCHEME:
            raise ValueError("not an scrypt hash")
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
        if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or len(digest) != 32:
            raise ValueError("parameters out of range")
    except ValueError:
        raise ArgumentError(
            "must be a hash made by `tidings serve --hash-passcode` "
            "(scrypt$N$r$p$salt$hash), never the passcode itself",
            field=field,
        ) from None
    return _Hash(n, r, p, salt, digest)


def verify_passcode(passcode: str, stored: str) -> bool:
    """Whether ``passcode`` matches the ``stored`` hash (compared in constant time).

    Raises:
        ArgumentError: ``stored`` is not a hash made by :func:`hash_passcode`.
    """
    parsed = _parse_hash(stored, "passcode")
    candidate = _scrypt(passcode, parsed.salt, parsed.n, parsed.r, parsed.p)
    return hmac.compare_digest(candidate, parsed.digest)


@dataclass(frozen=True, slots=True)
class Account:
    """One account of the service: its credentials and where its workspace lives.

    Attributes:
        id: The ``X-CleverTap-Account-Id`` value.
        passcode_hash: The scrypt hash of its ``X-CleverTap-Passcode``.
        db: Its SQLite workspace file (no account shares another's).
        sink: The JSON Lines file its deliveries and skips are appended to.
        requests_db: The SQLite file of its answered ``Idempotency-Key`` requests.
        rate_limit: Its request rate limit (None: unlimited).
    """

    id: str
    passcode_hash: str
    db: Path
    sink: Path
    requests_db: Path
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT

    def check(self, passcode: str) -> bool:
        """Whether ``passcode`` is this account's (constant-time comparison)."""
        return verify_passcode(passcode, self.passcode_hash)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The service's settings and accounts.

    Attributes:
        accounts: Accounts by id.
        data_dir: Where per-account files go by default (and the idempotency records).
        max_body_bytes: The largest request body accepted (larger ones get 413).
        max_recipients_per_call: The most recipients one call may name, all its
            campaigns together (more get the 400 fail body).
    """

    accounts: Mapping[str, Account]
    data_dir: Path
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_recipients_per_call: int = DEFAULT_MAX_RECIPIENTS


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ArgumentError("must be a non-empty string", field=f"{where}.{key}")
    return value


def _config_error(path: Path, message: str) -> ArgumentError:
    return ArgumentError(f"service config {path}: {message}")


def _positive_int(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArgumentError("must be a positive integer", field=f"{where}.{key}")
    return value


def _rate_limit(
    table: Mapping[str, Any], default: RateLimit | None, where: str
) -> RateLimit | None:
    """``rate_limit`` (requests a second, 0: none) and ``rate_burst`` of a table."""
    if "rate_limit" not in table and "rate_burst" not in table:
        return default
    rate = table.get("rate_limit", default.rate if default is not None else 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
        raise ArgumentError(
            "must be a number of requests a second, 0 for none", field=f"{where}.rate_limit"
        )
    if rate == 0:
        return None
    fallback = default.burst if default is not None else max(1, int(2 * rate))
    burst = _positive_int(table, "rate_burst", fallback, where)
    try:
        return RateLimit(rate=float(rate), burst=burst)
    except ArgumentError as exc:
        raise ArgumentError(exc.message, field=f"{where}.rate_limit") from None


def load_config(path: str | Path) -> ServiceConfig:
    """Read and check a service config file (see the module docstring for its shape).

    Raises:
        ArgumentError: The file is missing, not TOML, or an entry is invalid (the
            message names the entry, e.g. ``accounts[1].passcode``).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _config_error(path, exc.strerror or str(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _config_error(path, f"not valid TOML ({exc})") from None
    base = path.resolve().parent
    service = raw.get("service", {})
    if not isinstance(service, dict):
        raise _config_error(path, "[service] must be a table")
    data_dir = base / str(service.get("data_dir", "service-data"))
    try:
        limit = _positive_int(service, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, "service")
        recipients = _positive_int(
            service, "max_recipients_per_call", DEFAULT_MAX_RECIPIENTS, "service"
        )
        rate = _rate_limit(service, DEFAULT_RATE_LIMIT, "service")
    except ArgumentError as exc:
        raise _config_error(path, str(exc)) from None
    entries = raw.get("accounts", [])
    if not isinstance(entries, list) or not entries:
        raise _config_error(path, "at least one [[accounts]] entry is required")
    accounts: dict[str, Account] = {}
    for index, entry in enumerate(entries):
        where = f"accounts[{index}]"
        if not isinstance(entry, dict):
            raise _config_error(path, f"{where} must be a table")
        try:
            account_id = _text(entry, "id", where)
            passcode = _text(entry, "passcode", where)
            _parse_hash(passcode, f"{where}.passcode")
            account_rate = _rate_limit(entry, rate, where)
        except ArgumentError as exc:
            raise _config_error(path, str(exc)) from None
        if account_id in accounts:
            raise _config_error(path, f"{where}.id {account_id!r} appears twice")
        home = data_dir / _safe_dir_name(account_id)
        accounts[account_id] = Account(
            id=account_id,
            passcode_hash=passcode,
            db=base / str(entry["db"]) if "db" in entry else home / "tidings.db",
            sink=base / str(entry["sink"]) if "sink" in entry else home / "deliveries.jsonl",
            requests_db=home / "requests.db",
            rate_limit=account_rate,
        )
    return ServiceConfig(
        accounts=accounts,
        data_dir=data_dir,
        max_body_bytes=limit,
        max_recipients_per_call=recipients,
    )


def _safe_dir_name(account_id: str) -> str:
    """A directory name for an account id that cannot climb out of ``data_dir``."""
    if account_id.replace("-", "").replace("_", "").isalnum() and account_id.isascii():
        return account_id
    return "account-" + hashlib.sha256(account_id.encode("utf-8")).hexdigest()[:16]
