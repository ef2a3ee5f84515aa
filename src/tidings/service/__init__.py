"""The HTTP service: the vendor's REST API over one SQLite workspace per account.

Needs the ``service`` extra (``pip install 'tidings[service]'``: FastAPI and
uvicorn). ``tidings serve --config service.toml`` runs it; :func:`create_app`
builds the ASGI app for any ASGI server. See ``docs/service.md``.
"""

from ._accounts import DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES
from ._accounts import Account as Account
from ._accounts import ServiceConfig as ServiceConfig
from ._accounts import hash_passcode as hash_passcode
from ._accounts import load_config as load_config
from ._accounts import verify_passcode as verify_passcode
from ._app import create_app as create_app

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Account",
    "ServiceConfig",
    "create_app",
    "hash_passcode",
    "load_config",
    "verify_passcode",
]
