"""JavaScript, TypeScript and HTML templates: imports, snippet globals and endpoint hosts.

Regular expressions are enough here: comments are blanked first (keeping every line where it
was), so a commented-out ``<script>`` tag or ``require`` does not count, and what remains is
searched for ``import``/``require``, ``<script src>``, ``fetch``/``axios`` URLs and the globals
that tracking snippets define (``fbq``, ``gtag``, ...).
"""

from __future__ import annotations

import re

from warden_analysers.third_party_scan.hits import Hit, LineIndex
from warden_analysers.third_party_scan.index import RecipientIndex
from warden_analysers.third_party_scan.urls import host_hits

__all__ = ["blank_html_comments", "blank_js_comments", "npm_package", "scan_html", "scan_js"]

_JS_TOKENS = re.compile(
    r"""'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`|(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))""",
    re.DOTALL,
)
"""Strings are matched only so that ``//`` inside them is not taken for a comment."""
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)|\{#.*?(?:#\}|\Z)|\{\{!--.*?(?:--\}\}|\Z)", re.DOTALL)
"""HTML comments, and Jinja's and Handlebars' template comments."""
_SCRIPT = re.compile(r"(<script\b[^>]*>)(.*?)(</script\s*>|\Z)", re.DOTALL | re.IGNORECASE)
_IMPORT = re.compile(r"""(?:\bfrom\s+|\bimport\s*\(?\s*|\brequire\s*\(\s*)(["'])([^"'\s]+)\1(?:\s*\))?""")
"""``import x from 'p'``, ``export * from 'p'``, ``import 'p'``, ``import('p')``, ``require('p')``.

The evidence is the whole line (comments blanked), so a reviewer sees what was imported."""


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def blank_js_comments(text: str) -> str:
    """`text` with its ``//`` and ``/* */`` comments turned into spaces (newlines kept)."""
    parts, last = [], 0
    for match in _JS_TOKENS.finditer(text):
        if match.group("comment") is not None:
            parts += [text[last : match.start()], _blank(match.group(0))]
            last = match.end()
    parts.append(text[last:])
    return "".join(parts)


def blank_html_comments(text: str) -> str:
    """`text` with template comments blanked, and the JS comments inside its ``<script>`` blocks."""
    text = _HTML_COMMENT.sub(lambda m: _blank(m.group(0)), text)
    return _SCRIPT.sub(lambda m: m.group(1) + blank_js_comments(m.group(2)) + m.group(3), text)


def npm_package(specifier: str) -> str | None:
    """The package an import specifier names: '@sentry/browser/x' -> '@sentry/browser'."""
    if specifier.startswith((".", "/", "#", "~")) or ":" in specifier:
        return None
    parts = specifier.split("/")
    return "/".join(parts[:2]) if specifier.startswith("@") and len(parts) > 1 else parts[0]


def scan_js(text: str, index: RecipientIndex) -> list[Hit]:
    """Hits in a JavaScript or TypeScript file."""
    return _scan(blank_js_comments(text), index)


def scan_html(text: str, index: RecipientIndex) -> list[Hit]:
    """Hits in an HTML page or template (its inline scripts included)."""
    return _scan(blank_html_comments(text), index)


def _scan(code: str, index: RecipientIndex) -> list[Hit]:
    lines = LineIndex(code)
    source = code.split("\n")
    hits = []
    for match in _IMPORT.finditer(code):
        package = npm_package(match.group(2))
        recipient = index.npm(package) if package else None
        if recipient:
            line = lines.line(match.start())
            hits.append(Hit(recipient, line, source[line - 1].strip()))
    if index.js_globals is not None:
        for match in index.js_globals.finditer(code):
            recipient = index.js_global(match.group(1))
            if recipient:
                hits.append(Hit(recipient, lines.line(match.start()), match.group(0)))
    return hits + host_hits(code, index, lines)
