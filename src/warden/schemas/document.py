"""Documents and the passages they are split into: the unit every citation points at."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from warden.schemas._base import StrictModel

__all__ = ["Document", "DocumentFormat", "DocumentPart", "Passage"]

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
    start: int = Field(ge=0, description="Character offset of the passage in `Document.text`.")
    end: int = Field(ge=0, description="End offset (exclusive): `Document.text[start:end] == text`.")
    document_id: str | None = Field(
        default=None, description="In a document set: the id of the document the passage is from."
    )

    @model_validator(mode="after")
    def _span_is_ordered(self) -> Passage:
        if self.end < self.start:
            raise ValueError(f"passage {self.id}: end {self.end} is before start {self.start}")
        return self


class DocumentPart(StrictModel):
    """One document of a set read as one notice: what its passages' ``document_id`` names, and
    the name and title a reference in another document of the set is matched against."""

    id: str = Field(description="sha256 of the document's raw bytes.")
    name: str = Field(description="File name as given or uploaded.")
    title: str | None = None
    format: DocumentFormat
    passages: int = Field(default=0, ge=0)


class Document(StrictModel):
    """A loaded document: its identity, format, normalised text and passages.

    ``text`` is the document's text as Warden read it: every heading and paragraph block in
    reading order, separated by a blank line (markup stripped, wrapped lines joined). Passages
    are spans of it, so evidence quotes can be located and highlighted exactly;
    ``text[p.start:p.end] == p.text`` holds for every passage and is checked on validation.
    """

    id: str = Field(description="sha256 of the raw bytes.")
    name: str = Field(description="File name as uploaded.")
    format: DocumentFormat
    pages: int | None = None
    title: str | None = None
    text_chars: int = Field(ge=0, description="len(text) when text is present.")
    passages: list[Passage]
    text: str = Field(default="", description="Normalised full text that passage offsets index.")
    parts: list[DocumentPart] = Field(
        default_factory=list,
        description="A document set (several documents read as one notice): its documents, in the "
        "order given; empty for a single document.",
    )

    @model_validator(mode="after")
    def _passages_slice_text(self) -> Document:
        """Offsets that do not slice the text would point evidence at the wrong words."""
        if not self.text:
            return self
        if self.text_chars != len(self.text):
            raise ValueError(f"text_chars {self.text_chars} != len(text) {len(self.text)}")
        for p in self.passages:
            if self.text[p.start : p.end] != p.text:
                raise ValueError(f"passage {p.id}: text[{p.start}:{p.end}] is not its text")
        return self
