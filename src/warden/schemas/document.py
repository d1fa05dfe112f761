"""Documents and the passages they are split into: the unit every citation points at."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from warden.schemas._base import StrictModel

__all__ = ["DocumentFormat", "Passage", "Document"]

DocumentFormat = Literal["pdf", "html", "docx", "markdown", "text"]
"""How a document was read.

- ``pdf``: text extracted page by page with pypdf; passages keep their page number.
- ``html``: navigation, scripts and styles dropped; headings kept as the heading path.
- ``docx``: paragraphs and tables in document order.
- ``markdown``: ``#`` headings become the heading path.
- ``text``: plain text; headings guessed from short title-like lines.
"""


class Passage(StrictModel):
    """A citable span of a document: its text plus where it sits."""

    id: str = Field(description="Stable id: '<document sha256 prefix>#<index>'.")
    index: int = Field(ge=0)
    text: str
    headings: list[str] = Field(default_factory=list, description="Heading path, outermost first.")
    page: int | None = Field(default=None, ge=1, description="1-based page (PDF only).")
    start: int = Field(ge=0, description="Character offset of the passage in the document text.")
    end: int = Field(ge=0)


class Document(StrictModel):
    """A loaded document: its identity, format and passages."""

    id: str = Field(description="sha256 of the raw bytes.")
    name: str = Field(description="File name as uploaded.")
    format: DocumentFormat
    pages: int | None = None
    title: str | None = None
    text_chars: int = Field(ge=0)
    passages: list[Passage]
