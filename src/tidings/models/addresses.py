r"""Email addresses: validated by ``email-validator`` at the edge and before each delivery.

A profile's ``email`` becomes a delivery's ``to``, so anything that is not one
plain address (``"v@x.test\\r\\nBcc: all@evil.test"``, ``"a@x.test, b@evil.test"``,
a display name, a domain literal) is refused. The rules are email-validator's
(the library pydantic's ``EmailStr`` uses) with the DNS deliverability check off:
a syntactically valid address on a real-looking domain, no quoted local part,
no ``[1.2.3.4]`` domain literal, no display name. Special-use domains such as
``.test`` and ``localhost`` are refused, as email-validator does by default.

email-validator takes about 0.2 ms an address, so :func:`email_problem` remembers
recent answers, and an address already in the shape email-validator returns for
the plainest addresses (:data:`_PLAIN`, checked against the library by a property
test) is accepted without calling it; anything else goes through the library.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from email_validator import EmailNotValidError, validate_email

__all__ = ["email_problem", "normalize_email"]

MAX_EMAIL_LENGTH: Final = 254
"""The longest address SMTP can carry (RFC 5321 path limit less the brackets)."""

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN: Final = re.compile(
    r"[A-Za-z0-9_+-]{1,64}(?:\.[A-Za-z0-9_+-]{1,64})*"
    rf"@(?:{_LABEL}\.)+(?!test\Z|localhost\Z|local\Z|invalid\Z|onion\Z|arpa\Z)[a-z]{{2,24}}"
)
"""A conservative subset of the addresses email-validator accepts unchanged:
dot-atom local part of common characters, lower-case ASCII domain with a letters-only
top-level domain that is not special-use, no punycode labels (checked separately)."""


@lru_cache(maxsize=65_536)
def _validate(address: str) -> tuple[str | None, str | None]:
    """(normalized address, None) when valid, else (None, why not)."""
    try:
        result = validate_email(
            address,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        return None, str(exc)
    return result.normalized, None


def _plain(address: str) -> bool:
    return (
        len(address) <= MAX_EMAIL_LENGTH
        and "xn--" not in address
        and "--" not in address
        and _PLAIN.fullmatch(address) is not None
        and len(address.partition("@")[0]) <= 64
    )


def normalize_email(address: str) -> str:
    """The address in email-validator's normalized form (domain lower-cased, IDNA).

    Raises:
        ValueError: ``address`` is not one valid email address; the message says why.
    """
    if _plain(address):
        return address
    normalized, problem = _validate(address)
    if normalized is None:
        raise ValueError(f"{address[:80]!r} is not a valid email address: {problem}")
    return normalized


def email_problem(address: str) -> str | None:
    """Why ``address`` cannot be sent to, or None when it is one valid email address.

    Used just before a delivery is built: an address that reached the store some
    other way (an old database, a trusted bulk load) is still checked.
    """
    if _plain(address):
        return None
    return _validate(address)[1]
