"""Refuse zip bombs from the central directory, before any member is decompressed.

The sizes checked are the declared ones; zipfile stops reading at the declared size and fails
the CRC when a member lies, so a lying bomb ends as a corrupt file, not exhausted memory.
"""

from __future__ import annotations

import io
import zipfile

from warden.documents.errors import DocumentCorrupt, DocumentTooLarge

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "MAX_UNZIPPED", "check_zip"]

MAX_MEMBERS = 10_000
MAX_UNZIPPED = 256 * 2**20
"""Absolute cap on the total uncompressed size, whatever max_bytes is."""
MAX_RATIO = 100
"""Office XML compresses about 10:1; members over 1 MiB beyond this ratio are bombs."""
_RATIO_FLOOR = 2**20


def check_zip(data: bytes, *, source: str, max_bytes: int) -> None:
    """Raise `DocumentTooLarge` when the archive would expand past a bounded size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise DocumentCorrupt(f"the zip container is damaged ({exc})", source=source) from exc
    if len(infos) > MAX_MEMBERS:
        raise DocumentTooLarge(f"the archive holds {len(infos)} entries (limit {MAX_MEMBERS})", source=source)
    limit = min(MAX_UNZIPPED, 4 * max_bytes)
    total = 0
    for info in infos:
        size, packed = info.file_size, max(info.compress_size, 1)
        if size > _RATIO_FLOOR and size / packed > MAX_RATIO:
            raise DocumentTooLarge(
                f"'{info.filename}' would expand {size // packed}:1 to {size:,} bytes "
                "(a zip bomb, not a Word document)",
                source=source,
                fix="Open the file in Word, save it as a new DOCX and upload that.",
            )
        total += size
        if total > limit:
            raise DocumentTooLarge(
                f"the archive expands to more than {limit:,} bytes (limit is 4 x max_bytes, "
                f"at most {MAX_UNZIPPED:,})",
                source=source,
            )
