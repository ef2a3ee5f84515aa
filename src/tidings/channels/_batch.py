"""One message rendered for the many users of a dispatch, with the shared work done once.

:meth:`ChannelMessage.render <tidings.channels.PushMessage.render>` is the
reference: per user it checks the trigger, builds the namespaces of each template,
renders every template and builds the payload. A dispatch renders one message for
every user of a chunk with the same ``BusinessEvent`` and ``Campaign`` namespaces,
so :class:`BatchRender` renders the templates that read nothing else once
(a push title such as ``New {{ BusinessEvent.genre }}``), builds the namespaces
once per user and calls the compiled render functions directly. Whenever that
fast path raises, the user is rendered again through ``render`` itself, so each
user gets exactly ``render``'s payload or error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..templating.template import NAMESPACES
from .email import EmailMessage
from .push import PushMessage
from .webhook import WebhookMessage

__all__ = ["BatchRender"]

_PER_USER = frozenset({"Profile", "ExternalTrigger"})


class BatchRender:
    """Render ``message`` per user, with ``namespaces`` (``BusinessEvent``, ``Campaign``) fixed.

    Call it with a user's profile namespace and trigger data; it returns what
    ``message.render(profile, trigger, **namespaces)`` returns and raises what
    it raises.
    """

    __slots__ = ("_compiled", "_constant", "_fast", "_per_user", "message", "namespaces")

    def __init__(
        self, message: PushMessage | EmailMessage | WebhookMessage, namespaces: Mapping[str, Any]
    ) -> None:
        self.message = message
        self.namespaces = dict(namespaces)
        names = frozenset(self.namespaces)
        # Namespaces render() would refuse (or that would replace a user's own)
        # keep every user on render(), which reports them.
        self._fast = names <= NAMESPACES and not names & _PER_USER
        self._compiled = message.compiled_templates
        self._constant: dict[str, str] = {}
        self._per_user: list[tuple[str, Callable[[dict[str, Any]], str]]] = []
        for entry in self._compiled.fields:
            template = entry.template
            if self._fast and template.renders_alike(names):
                try:
                    self._constant[entry.key] = template.render(None, None, **self.namespaces)
                    continue
                except Exception:  # noqa: BLE001, S110 - rendered per user, which reports it
                    pass
            self._per_user.append((entry.key, template.render_function()))

    @property
    def constant_keys(self) -> frozenset[str]:
        """The fields rendered once for every user (they read only the fixed namespaces)."""
        return frozenset(self._constant)

    def __call__(
        self, profile: Mapping[str, Any] | None, trigger: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """One user's payload as a dict: ``message.render(...).to_dict()``, errors included."""
        message = self.message
        if self._fast:
            try:
                compiled = self._compiled
                if compiled.required_trigger_keys or (
                    trigger is not None and type(trigger) is not dict
                ):
                    compiled.check_trigger(trigger, message.channel)
                # The fixed namespaces never hold these two names (else no fast path).
                data: dict[str, Any] = {
                    "Profile": profile or {},
                    "ExternalTrigger": trigger or {},
                    **self.namespaces,
                }
                texts = self._constant.copy()
                for key, render in self._per_user:
                    texts[key] = render(data)
                return message.payload_dict(texts)
            except Exception:  # noqa: BLE001, S110 - render() below gives the exact outcome
                pass
        return message.render(profile, trigger, **self.namespaces).to_dict()
