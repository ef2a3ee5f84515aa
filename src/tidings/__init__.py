"""tidings: turn a business or user event into the final, per-user messages of a campaign."""

from .errors import ChannelError as ChannelError
from .errors import HeaderInjectionError as HeaderInjectionError
from .errors import InvalidWebhookBodyError as InvalidWebhookBodyError
from .errors import LimitExceededError as LimitExceededError
from .errors import MissingTriggerKeyError as MissingTriggerKeyError
from .errors import PayloadTooLargeError as PayloadTooLargeError
from .errors import RenderError as RenderError
from .errors import TemplateError as TemplateError
from .errors import TemplateSyntaxError as TemplateSyntaxError
from .errors import TidingsError as TidingsError
from .errors import TriggerDataError as TriggerDataError
from .errors import UndefinedValueError as UndefinedValueError
from .errors import UnknownFilterError as UnknownFilterError
from .errors import UnknownNameError as UnknownNameError
from .templating import Limits as Limits
from .templating import Template as Template
from .templating import compile_template as compile_template

__version__ = "0.1.0"

__all__ = [
    "ChannelError",
    "HeaderInjectionError",
    "InvalidWebhookBodyError",
    "LimitExceededError",
    "Limits",
    "MissingTriggerKeyError",
    "PayloadTooLargeError",
    "RenderError",
    "Template",
    "TemplateError",
    "TemplateSyntaxError",
    "TidingsError",
    "TriggerDataError",
    "UndefinedValueError",
    "UnknownFilterError",
    "UnknownNameError",
    "compile_template",
]
