"""Liquid templates for messages: compile once, render per user, escape per channel."""

from ._environment import Limits as Limits
from ._escape import EscapeMode as EscapeMode
from ._nodes import Fallback as Fallback
from ._outline import NameUse as NameUse
from ._outline import TemplateOutline as TemplateOutline
from .template import NAMESPACES as NAMESPACES
from .template import RenderReport as RenderReport
from .template import Template as Template
from .template import compile_template as compile_template

__all__ = [
    "NAMESPACES",
    "EscapeMode",
    "Fallback",
    "Limits",
    "NameUse",
    "RenderReport",
    "Template",
    "TemplateOutline",
    "compile_template",
]
