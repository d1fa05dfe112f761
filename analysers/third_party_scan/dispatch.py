"""Which scanner reads which file, decided by its name alone (before anything is read)."""

from __future__ import annotations

from typing import Literal

from warden_analysers.third_party_scan.hits import Hit
from warden_analysers.third_party_scan.index import RecipientIndex
from warden_analysers.third_party_scan.scan_config import is_config, is_env_secret, scan_config
from warden_analysers.third_party_scan.scan_js import scan_html, scan_js
from warden_analysers.third_party_scan.scan_manifests import is_manifest, scan_manifest
from warden_analysers.third_party_scan.scan_python import scan_python

__all__ = ["LOCK_FILES", "ScannerKind", "scan_file", "scanner_for", "wanted"]

ScannerKind = Literal["manifest", "python", "js", "html", "config"]
"""The scanner a file goes to.

- ``manifest``: a dependency manifest (requirements*.txt, pyproject.toml, package.json, ...).
- ``python``: Python source, read through its syntax tree.
- ``js``: JavaScript or TypeScript.
- ``html``: an HTML page or a template (Jinja, Handlebars, EJS, Vue, Svelte).
- ``config``: a configuration file or ``.env`` template.
"""

LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Pipfile.lock",
        "Gemfile.lock",
        "uv.lock",
        "composer.lock",
        "bun.lockb",
    }
)
"""Lock files list every transitive dependency: other people's choices, not the system's."""

_PYTHON = (".py", ".pyw")
"""Not ``.pyi``: type stubs never run, and typeshed bundles stubs for every popular SDK."""
_JS = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
_HTML = (
    ".html",
    ".htm",
    ".xhtml",
    ".jinja",
    ".jinja2",
    ".j2",
    ".hbs",
    ".handlebars",
    ".ejs",
    ".vue",
    ".svelte",
    ".liquid",
    ".twig",
    ".erb",
)


def scanner_for(name: str) -> ScannerKind | None:
    """The scanner for a file name, or None for files no scanner reads."""
    lower = name.lower()
    if name in LOCK_FILES:
        return None
    if is_manifest(name):
        return "manifest"
    if lower.endswith(_PYTHON):
        return "python"
    if lower.endswith(_JS) and not lower.endswith(".d.ts"):
        return "js"
    if lower.endswith(_HTML):
        return "html"
    if is_config(name):
        return "config"
    return None


def wanted(name: str) -> bool:
    """Files the walk hands over: scannable ones, and real env files (to count them as refused)."""
    return scanner_for(name) is not None or is_env_secret(name)


def scan_file(name: str, text: str, index: RecipientIndex) -> tuple[list[Hit], bool]:
    """Hits in one file, and False when a Python file did not parse (its regex fallback ran)."""
    kind = scanner_for(name)
    if kind == "manifest":
        return scan_manifest(name, text, index), True
    if kind == "python":
        return scan_python(text, index)
    if kind == "js":
        return scan_js(text, index), True
    if kind == "html":
        return scan_html(text, index), True
    if kind == "config":
        return scan_config(name, text, index), True
    return [], True
