"""Helpers shared by the tests, the bench scripts and the fixture builder; the product never
imports this module.

They live here, not in `tests/` or `bench/`, because benches and tests must not import each
other and both need the same small PDF writer and the same peak-memory probe.
"""

from __future__ import annotations

import zlib

from warden.store.scratch import PG_ADMIN_URL, pg_unavailable_reason, refill_database, scratch_database

__all__ = [
    "PEAK_RSS_MARKER",
    "PEAK_RSS_PRELUDE",
    "PG_ADMIN_URL",
    "pdf_document",
    "pdf_escape",
    "pg_unavailable_reason",
    "refill_database",
    "scratch_database",
    "simple_pdf",
    "split_peak_rss",
]

PEAK_RSS_MARKER = "\nWARDEN_PEAK_RSS_KB "

# Run as `python -c PEAK_RSS_PRELUDE ARGS...`: the `warden` CLI, which then reports its own
# VmHWM on stderr at exit. wait4's ru_maxrss would not do: Linux carries the parent's pre-exec
# high-water mark over exec, so a child of a big test process would look big.
PEAK_RSS_PRELUDE = f"""
import atexit, sys
def _peak():
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith('VmHWM:'):
                sys.stderr.write({PEAK_RSS_MARKER!r} + line.split()[1] + '\\n')
atexit.register(_peak)
sys.argv = ['warden', *sys.argv[1:]]
from warden.cli import main
main()
"""


def split_peak_rss(stderr: str) -> tuple[str, float | None]:
    """(the child's own stderr, its peak RSS in MB or None if it died before reporting)."""
    err, _, peak = stderr.rpartition(PEAK_RSS_MARKER)
    if not peak.strip().isdigit():
        return stderr, None
    return err, int(peak) / 1024


def pdf_escape(text: str) -> bytes:
    """`text` as the inside of a PDF literal string in WinAnsi (cp1252) encoding."""
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_document(
    objects: list[bytes], *, root: int, info: int | None = None, header: bytes = b"%PDF-1.4\n"
) -> bytes:
    """Serialise numbered objects (1-based, in order) with a correct cross-reference table."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info_ref = b" /Info %d 0 R" % info if info is not None else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        info_ref,
        xref,
    )
    return bytes(out)


def simple_pdf(pages: list[bytes], extra_resources: bytes = b"") -> bytes:
    """An A4 PDF whose pages have the given content streams, with Helvetica as font /F1."""
    objects: list[bytes] = [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"",  # the page tree, once the kids are known
    ]
    kids = []
    for content in pages:
        stream = zlib.compress(content)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 1 0 R >> %s >> /Contents %d 0 R >>" % (extra_resources, len(objects))
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    return pdf_document(objects, root=len(objects))
