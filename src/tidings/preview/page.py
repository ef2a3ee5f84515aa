"""The preview as HTML: one self-contained page per preview, and an index of pages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import jinja2

from .results import Preview, jsonable

__all__ = ["PageLink", "render_index_html", "render_preview_html"]


@lru_cache(maxsize=1)
def _jinja_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tidings", "preview_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True, slots=True)
class _PageEntry:
    """One preview on a page, with what the template needs precomputed."""

    title: str
    preview: Preview
    body_json: str | None = None
    extras: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _entry(title: str, preview: Preview) -> _PageEntry:
    payload = preview.payload or {}
    body_json = None
    if preview.kind == "webhook" and preview.payload is not None:
        body_json = json.dumps(jsonable(payload.get("body")), indent=2, ensure_ascii=False)
    extras: tuple[tuple[str, str], ...] = ()
    if preview.kind == "push" and isinstance(payload.get("extras"), Mapping):
        extras = tuple((str(k), str(v)) for k, v in payload["extras"].items())
    return _PageEntry(title=title, preview=preview, body_json=body_json, extras=extras)


def render_preview_html(preview: Preview, *, title: str = "tidings preview") -> str:
    """Draw ``preview`` as one self-contained HTML page (inline CSS, no scripts).

    The page shows what a person would see: a push notification mock, the email
    inside a sandboxed ``iframe`` (its HTML in an escaped ``srcdoc``, so nothing in
    it runs or touches the page), or the webhook request. Warnings are listed and
    errors shown with their line, column and caret.

    Args:
        preview: The result of :func:`preview_template` or :func:`preview_message`.
        title: The page heading (the file name, for instance).
    """
    template = _jinja_environment().get_template("preview.html")
    return template.render(title=title, entry=_entry(title, preview))


class PageLink(NamedTuple):
    """One preview page listed on an index page."""

    name: str
    """What the index shows (the example's name)."""
    href: str
    """Where the page is, relative to the index."""
    preview: Preview
    """The preview drawn on that page (its kind, errors and warnings are listed)."""


def render_index_html(pages: Sequence[PageLink], *, title: str = "tidings previews") -> str:
    """Draw an index page linking to preview pages (``tidings demo`` writes one).

    Args:
        pages: A :class:`PageLink` for each page, in the order to list them.
        title: The page heading.
    """
    items = [
        {
            "name": name,
            "href": href,
            "kind": preview.kind,
            "ok": preview.ok,
            "warnings": len(preview.warnings),
            "errors": len(preview.errors),
        }
        for name, href, preview in map(PageLink._make, pages)
    ]
    return _jinja_environment().get_template("index.html").render(title=title, items=items)
