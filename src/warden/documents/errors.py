"""Why a document could not be read, as `LoadError`s with stable codes and a fix to try.

Every loader failure ends up as one of these, so the CLI prints a sentence, not a traceback.
"""

from __future__ import annotations

from warden.errors import LoadError

__all__ = [
    "DOCUMENT_ERROR_CODES",
    "DocumentCorrupt",
    "DocumentEmpty",
    "DocumentEncrypted",
    "DocumentError",
    "DocumentImageOnly",
    "DocumentNotFound",
    "DocumentTooComplex",
    "DocumentTooLarge",
    "DocumentTooManyPages",
    "DocumentUnsupported",
]


class DocumentError(LoadError):
    """Base of document failures: names the file, the reason, and a default fix."""

    code = "document_error"
    default_fix = "Check the file opens in its usual application, then upload it again."

    def __init__(self, reason: str, *, source: str, fix: str | None = None) -> None:
        super().__init__(reason, source=source, fix=fix or self.default_fix)


class DocumentNotFound(DocumentError):
    """The path does not exist or is not a readable regular file."""

    code = "document_not_found"
    default_fix = "Check the path; Warden reads regular files only."


class DocumentEmpty(DocumentError):
    """The file has no bytes, or no readable text once markup is removed."""

    code = "document_empty"
    default_fix = "Upload the document that contains the notice text."


class DocumentTooLarge(DocumentError):
    """Over the byte limit, or a zip whose contents would expand past a safe size."""

    code = "document_too_large"
    default_fix = "Split the document, or raise max_bytes if the file is trusted."


class DocumentTooManyPages(DocumentError):
    """A PDF with more pages than max_pages: refused before any text is extracted."""

    code = "document_too_many_pages"
    default_fix = "Upload only the pages that hold the notice, or raise max_pages."


class DocumentTooComplex(DocumentError):
    """Markup nested so deeply that parsing it would cost unbounded time or stack."""

    code = "document_too_complex"
    default_fix = "Save the page as PDF or plain text from a browser and upload that instead."


class DocumentEncrypted(DocumentError):
    """A password-protected PDF that cannot be opened without the password."""

    code = "document_encrypted"
    default_fix = "Remove the password (for example 'qpdf --decrypt in.pdf out.pdf') and retry."


class DocumentCorrupt(DocumentError):
    """The bytes claim a format but do not parse as it (truncated, damaged, malformed)."""

    code = "document_corrupt"
    default_fix = "Download or export the file again; it looks truncated or damaged."


class DocumentImageOnly(DocumentError):
    """A PDF with pages but no text layer (a scan): there is nothing to cite."""

    code = "document_image_only"
    default_fix = "Run OCR first (for example 'ocrmypdf in.pdf out.pdf') and upload the result."


class DocumentUnsupported(DocumentError):
    """Content that is not PDF, HTML, DOCX, Markdown or text (images, archives, binary)."""

    code = "document_unsupported"
    default_fix = "Convert the document to PDF, DOCX, HTML, Markdown or plain text."


DOCUMENT_ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        DocumentNotFound,
        DocumentEmpty,
        DocumentTooLarge,
        DocumentTooManyPages,
        DocumentTooComplex,
        DocumentEncrypted,
        DocumentCorrupt,
        DocumentImageOnly,
        DocumentUnsupported,
    )
)
"""Every code a document load can fail with."""
