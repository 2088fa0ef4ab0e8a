"""Inline the page's template, style, script and data into one self-contained HTML document."""

from __future__ import annotations

import html
import json
from importlib import resources
from string import Template

__all__ = ["render_page", "iframe"]

_ASSETS: dict[str, str] = {}


def _asset(name: str) -> str:
    if name not in _ASSETS:
        _ASSETS[name] = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return _ASSETS[name]


def _json_for_script(data: dict) -> str:
    """JSON that cannot end the <script> element it sits in: every '<' is written as \\u003c (inside JSON
    strings, the only place one can appear, that is the same character)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(data: dict, title: str) -> str:
    """The whole page as one string: nothing is loaded from anywhere when it opens."""
    return Template(_asset("template.html")).substitute(
        title=html.escape(title), css=_asset("page.css"), js=_asset("page.js"), data=_json_for_script(data))


def iframe(page: str, height: int = 620) -> str:
    """The page in an ``<iframe srcdoc>`` (for Jupyter): its script and ids stay apart from the notebook's."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;'
            'border:1px solid #dee2e6" sandbox="allow-scripts"></iframe>')
