"""Python: imports read from the syntax tree, endpoints from string literals.

Reading the tree means a commented-out import or an ``"import stripe"`` inside a string is not
an import. Docstrings are prose, so their URLs are not endpoints. A file that does not parse
(Python 2, a template, a half-edited file) falls back to line patterns without comments.
"""

from __future__ import annotations

import ast
import re

from warden_analysers.third_party_scan.hits import Hit, LineIndex
from warden_analysers.third_party_scan.index import RecipientIndex
from warden_analysers.third_party_scan.urls import host_hits

__all__ = ["scan_python"]

_IMPORT_LINE = re.compile(r"^\s*import\s+([\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)")
_FROM_LINE = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+\(?\s*([\w\s,]+)")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
"""Nodes whose first statement, if a string, is a docstring: prose, not an endpoint."""
_STRING = re.compile(r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"", re.DOTALL)


def scan_python(text: str, index: RecipientIndex) -> tuple[list[Hit], bool]:
    """Hits in a Python file, and whether it parsed (False: the regex fallback was used)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _fallback(text, index), False
    return _tree_hits(tree, index), True


def _tree_hits(tree: ast.AST, index: RecipientIndex) -> list[Hit]:
    """Imports and non-docstring string literals, gathered in one walk (walking is the slow part)."""
    hits: list[Hit] = []
    strings: list[ast.Constant] = []
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and "." in node.value:
                strings.append(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                recipient = index.python(alias.name)
                if recipient:
                    hits.append(Hit(recipient, node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.module and not node.level:
                for alias in node.names:
                    recipient = index.python(f"{node.module}.{alias.name}")
                    if recipient:
                        hits.append(Hit(recipient, node.lineno, f"from {node.module} import {alias.name}"))
        elif isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in strings:
        if id(node) not in docstrings:
            hits += host_hits(node.value, index, LineIndex(node.value), base_line=node.lineno - 1)
    return hits


def _fallback(text: str, index: RecipientIndex) -> list[Hit]:
    """Imports at line starts, endpoints in quoted strings; comment lines are ignored."""
    hits = []
    code = [("" if line.lstrip().startswith("#") else line) for line in text.split("\n")]
    for number, line in enumerate(code, start=1):
        if match := _FROM_LINE.match(line):
            module = match.group(1)
            for name in re.split(r"[\s,]+", match.group(2).strip()):
                recipient = index.python(f"{module}.{name}") if name and name != "as" else None
                if recipient:
                    hits.append(Hit(recipient, number, f"from {module} import {name}"))
        elif match := _IMPORT_LINE.match(line):
            for part in match.group(1).split(","):
                module = part.split()[0]
                recipient = index.python(module)
                if recipient:
                    hits.append(Hit(recipient, number, f"import {module}"))
    kept = "\n".join(code)
    lines = LineIndex(kept)
    for match in _STRING.finditer(kept):
        line = lines.line(match.start())
        hits += host_hits(match.group(0), index, LineIndex(match.group(0)), base_line=line - 1)
    return hits
