"""Errors of data: JSON-like data, ExternalTrigger data, rendered payloads."""

from __future__ import annotations

from ._base import ErrorCode, TidingsError

__all__ = [
    "ChannelError",
    "DataError",
    "HeaderInjectionError",
    "InvalidWebhookBodyError",
    "MissingTriggerKeyError",
    "PayloadTooLargeError",
    "TriggerDataError",
]


class DataError(TidingsError, ValueError):
    r"""Untrusted JSON-like data (trigger data, properties) that breaks a rule.

    Raised by :func:`tidings.models.data.check_data`, the one checker every entry
    point uses: nesting too deep, too many items, a key that is not a string, a
    lone surrogate (``"\\ud800"``), an integer too large, a circular reference,
    NaN or infinity, or a value of a type JSON cannot hold.

    Attributes:
        field: The path of the offending value (``ExternalTrigger.items[3].name``).
        rule: Which rule was broken: ``depth``, ``size``, ``key_type``,
            ``surrogate``, ``int_size``, ``cycle``, ``non_finite``, ``type``,
            ``string_size``.
    """

    code: ErrorCode = "data_error"

    def __init__(self, message: str, *, field: str | None = None, rule: str = "") -> None:
        super().__init__(message, field=field)
        self.rule = rule


class TriggerDataError(DataError):
    """Trigger data that cannot be used (wrong type, too large)."""

    code: ErrorCode = "trigger_data"


class MissingTriggerKeyError(TriggerDataError, LookupError):
    """A key the template needs (used without a ``default``) is absent from the trigger.

    Attributes:
        key: The first missing top-level ``ExternalTrigger`` key.
        keys: Every missing key, sorted.
    """

    code: ErrorCode = "missing_trigger_key"

    def __init__(self, keys: list[str], *, field: str | None = None) -> None:
        self.keys = sorted(keys)
        self.key = self.keys[0]
        names = ", ".join(self.keys)
        plural = "s" if len(self.keys) > 1 else ""
        super().__init__(f"ExternalTrigger key{plural} missing: {names}", field=field)


class ChannelError(TidingsError, ValueError):
    """A rendered payload breaks a rule of its channel."""

    code: ErrorCode = "channel_error"


class PayloadTooLargeError(ChannelError):
    """The rendered payload is larger than the channel allows.

    Attributes:
        size: The payload's size in bytes.
        limit: The limit in bytes.
    """

    code: ErrorCode = "payload_too_large"

    def __init__(self, size: int, limit: int, *, field: str | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"payload is {size} bytes, over the limit of {limit} bytes", field=field)


class InvalidWebhookBodyError(ChannelError):
    """The rendered webhook body is not valid JSON."""

    code: ErrorCode = "invalid_webhook_body"


class HeaderInjectionError(ChannelError):
    """A header value (or email subject) would carry a CR or LF character."""

    code: ErrorCode = "header_injection"
