"""Preview a template or a channel message with sample data.

A preview renders exactly what a user would receive and says what to look at
before publishing: outputs that fell back to their ``default`` value, keys the
template uses that the sample trigger data does not carry, and errors with
their line, column and a caret under the offending spot. It never raises for a
problem in the template or the data: those become :attr:`Preview.errors`.

>>> from tidings.preview import preview_template
>>> result = preview_template('Hi {{ Profile.name | default: "there" }}', {}, {})
>>> result.text
'Hi there'
>>> [w.message for w in result.warnings]
['Profile.name fell back to its default "there"']

:func:`render_preview_html` draws one self-contained page (Jinja2, autoescaped,
no network for its own assets) showing a push notification mock, an email in a
sandboxed iframe, or a webhook request.
"""

from .page import PageLink as PageLink
from .page import render_index_html as render_index_html
from .page import render_preview_html as render_preview_html
from .render import preview_message as preview_message
from .render import preview_template as preview_template
from .results import Preview as Preview
from .results import PreviewError as PreviewError
from .results import PreviewKind as PreviewKind
from .results import PreviewWarning as PreviewWarning
from .results import WarningKind as WarningKind

__all__ = [
    "PageLink",
    "Preview",
    "PreviewError",
    "PreviewKind",
    "PreviewWarning",
    "WarningKind",
    "preview_message",
    "preview_template",
    "render_index_html",
    "render_preview_html",
]
