"""Every error tidings raises, in one hierarchy.

Each error carries the context a caller needs to act on it: the field
(``email.subject``), the template line and column, and, for data problems,
the key. ``str(error)`` is a message a marketer understands; templates errors
also draw the offending line with a caret under the column.

Hierarchy::

    TidingsError
    ├── TemplateError (ValueError)            a template cannot be compiled or rendered
    │   ├── TemplateSyntaxError               bad Liquid syntax, found at compile time
    │   ├── UnknownFilterError                a filter that does not exist
    │   ├── UnknownNameError                  a top-level name that is not a namespace
    │   ├── UnsafeOutputError                 an output where escaping cannot keep data safe
    │   └── RenderError                       a failure while rendering
    │       ├── UndefinedValueError           strict mode: a value is missing
    │       └── LimitExceededError            loop, output or nesting limit reached
    ├── DataError (ValueError)                JSON-like data breaks a rule (depth, size,
    │   │                                     key type, surrogate, huge int, cycle, NaN)
    │   └── TriggerDataError                  the trigger data is unusable
    │       └── MissingTriggerKeyError (LookupError)  a required ExternalTrigger key is absent
    ├── RecordError (ValueError)              a profile or user event is invalid
    │   ├── ProfileError                      ... a profile (bad email, time zone, ...)
    │   └── EventError                        ... a user event (no timestamp, ...)
    ├── DefinitionError (ValueError)          an invalid campaign/bulletin/event definition
    │                                         (``problems``: every failing field at once)
    ├── ArgumentError (TypeError, ValueError) a public function got an argument it cannot use
    └── ChannelError (ValueError)             a rendered payload breaks a channel rule
        ├── PayloadTooLargeError              over the channel's size limit
        ├── InvalidWebhookBodyError           the webhook body is not valid JSON
        └── HeaderInjectionError              CR or LF in a header value

The contract: a public function given bad input raises a subclass of
:class:`TidingsError` (never a bare ``TypeError``, ``RecursionError``,
``UnicodeEncodeError`` or pydantic ``ValidationError``), and the error names the
field (``properties.items[3]``, ``filters.0.within_days``) or the template line.
Errors that wrap pydantic's keep it as ``__cause__`` and its error list on
``errors``. Vendor-API entry points (``trigger_campaign``, ``raise_business_event``,
``message_via_identity``) answer a bad body with the vendor's ``fail`` response
instead of raising; ``Dispatch.error`` holds the typed error. See ``docs/errors.md``.

Outcomes such as "held out by the control group" are never errors: they are
``Skip`` records.

The classes are defined by family (``_base``, ``_template``, ``_data``, ``_input``)
and belong to this module: import them from ``tidings.errors``.
"""

from ._base import ErrorCode as ErrorCode
from ._base import TidingsError as TidingsError
from ._data import ChannelError as ChannelError
from ._data import DataError as DataError
from ._data import HeaderInjectionError as HeaderInjectionError
from ._data import InvalidWebhookBodyError as InvalidWebhookBodyError
from ._data import MissingTriggerKeyError as MissingTriggerKeyError
from ._data import PayloadTooLargeError as PayloadTooLargeError
from ._data import TriggerDataError as TriggerDataError
from ._input import ArgumentError as ArgumentError
from ._input import DefinitionError as DefinitionError
from ._input import DefinitionProblem as DefinitionProblem
from ._input import EventError as EventError
from ._input import ProfileError as ProfileError
from ._input import RecordError as RecordError

# The shared base of the errors pydantic's are wrapped in (the models use it).
from ._input import _InvalidInputError as _InvalidInputError
from ._template import LimitExceededError as LimitExceededError
from ._template import RenderError as RenderError
from ._template import TemplateError as TemplateError
from ._template import TemplateSyntaxError as TemplateSyntaxError
from ._template import UndefinedValueError as UndefinedValueError
from ._template import UnknownFilterError as UnknownFilterError
from ._template import UnknownNameError as UnknownNameError
from ._template import UnsafeOutputError as UnsafeOutputError

__all__ = [
    "ArgumentError",
    "ChannelError",
    "DataError",
    "DefinitionError",
    "DefinitionProblem",
    "ErrorCode",
    "EventError",
    "HeaderInjectionError",
    "InvalidWebhookBodyError",
    "LimitExceededError",
    "MissingTriggerKeyError",
    "PayloadTooLargeError",
    "ProfileError",
    "RecordError",
    "RenderError",
    "TemplateError",
    "TemplateSyntaxError",
    "TidingsError",
    "TriggerDataError",
    "UndefinedValueError",
    "UnknownFilterError",
    "UnknownNameError",
    "UnsafeOutputError",
]

# Shown and pickled as tidings.errors.X, where callers import them from.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
_InvalidInputError.__module__ = __name__
