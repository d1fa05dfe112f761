"""Mutation fuzzing of the document loaders: every input must give passages or a coded error, quickly.

    python bench/fuzz_documents.py [--cases 2000] [--seed 1] [--timeout 20] [--rss-mb 600] [--show 5]

Seeds are the bundled notices (fixtures/notices: PDF, HTML, DOCX, Markdown, text) and
fixtures/acme/notice.md, plus a few generated shapes (a PDF with an object stream and an xref
stream). Each case applies one seeded mutation: generic byte mutations (flips, truncation,
chunk duplication and deletion, splicing two formats, NULs, BOMs, invalid UTF-8/UTF-16),
DOCX member mutations (malformed XML, entity declarations and billion laughs, external
entities, huge attributes, deep nesting, missing rels or content types, huge gridSpan, junk
outline levels), PDF structure mutations (/Length, xref offsets, /Count, circular /Kids and
/Parent, object stream headers, content-stream operators, self-referencing and exponentially
nested forms), HTML shapes (deep nesting variants, unterminated tags, huge attributes,
encodings) and pathological Markdown/text lines (10 MB lines, runs of '#', '|', '[', '<',
whitespace).

Cases run one at a time in a worker process that `load_bytes` each input; a case over
`--timeout` seconds kills the worker (a hang), and the worker's peak RSS (VmHWM, reset before
each case) over `--rss-mb` is a memory blow-up. Outcome classes printed with counts:

- ``ok``: passages; ``error:<code>``: a DocumentError with a code whose message names the file;
- ``net:<Type>``: a DocumentCorrupt made by the loader's catch-all from a library exception
  (clean for the user, but the failure was not anticipated);
- ``DEFECT:<...>``: any other exception, an error not naming the file, a hang, or a blow-up.
"""

from __future__ import annotations

import argparse
import io
import pickle
import random
import re
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_FILES = [*sorted((REPO / "fixtures" / "notices").glob("*.*")), REPO / "fixtures" / "acme" / "notice.md"]
SEED_SUFFIXES = {".pdf", ".html", ".docx", ".md", ".txt"}

# ---------------------------------------------------------------- generated seeds


def _objstm_pdf() -> bytes:
    """A one-page PDF whose font sits in an object stream, indexed by an xref stream."""
    content = zlib.compress(b"BT /F1 11 Tf 72 760 Td (An object stream notice about your data.) Tj ET")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    header = b"5 0 "
    objstm = header + font
    out = bytearray(b"%PDF-1.5\n")
    offsets: dict[int, int] = {}

    def obj(n: int, body: bytes) -> None:
        offsets[n] = len(out)
        out.extend(b"%d 0 obj\n" % n + body + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    obj(
        3,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
    )
    obj(4, b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")
    obj(
        6,
        b"<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n" % (len(header), len(objstm))
        + objstm
        + b"\nendstream",
    )
    xref_at = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    for n in range(1, 8):
        if n == 5:
            rows.append(struct.pack(">BIH", 2, 6, 0))
        elif n == 7:
            rows.append(struct.pack(">BIH", 1, xref_at, 0))
        else:
            rows.append(struct.pack(">BIH", 1, offsets[n], 0))
    data = b"".join(rows)
    out.extend(
        b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(data)
        + data
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    )
    return bytes(out)


def _forms_pdf(depth: int, fanout: int, self_ref: bool = False) -> bytes:
    """Form XObjects where each draws the next `fanout` times: fanout**depth text runs."""
    from warden.testing import pdf_document

    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    first_form = 2
    for level in range(depth):
        nxt = first_form + level + 1
        if self_ref:
            body = b"/Fm0 Do " * fanout + b"BT /F1 9 Tf 72 700 Td (Loop) Tj ET"
            res = b"<< /XObject << /Fm0 %d 0 R >> /Font << /F1 1 0 R >> >>" % (first_form + level)
        elif level == depth - 1:
            body = b"BT /F1 9 Tf 72 700 Td (We share your data with partners.) Tj ET"
            res = b"<< /Font << /F1 1 0 R >> >>"
        else:
            body = b"/Fm0 Do " * fanout
            res = b"<< /XObject << /Fm0 %d 0 R >> /Font << /F1 1 0 R >> >>" % nxt
        objects.append(
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources %s /Length %d >>\nstream\n"
            % (res, len(body))
            + body
            + b"\nendstream"
        )
    page_content = b"/Fm0 Do"
    n_content = len(objects) + 1
    objects.append(b"<< /Length %d >>\nstream\n" % len(page_content) + page_content + b"\nendstream")
    n_pages = len(objects) + 2
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Fm0 %d 0 R >> "
        b"/Font << /F1 1 0 R >> >> /Contents %d 0 R >>" % (n_pages, first_form, n_content)
    )
    objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n_pages - 1))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % n_pages)
    return pdf_document(objects, root=len(objects))


def _repeat_pdf(rng: random.Random) -> bytes:
    """Tiny PDFs that repeat a text run, or a form, tens of thousands of times."""
    from warden.testing import pdf_document, simple_pdf

    n = rng.choice([20_000, 80_000, 400_000])
    op = rng.choice([b"(We share data. ) Tj ", b"(We share data. ) ' ", b"[(We) -250 (share)] TJ 0 -14 Td "])
    if rng.random() < 0.5:
        return simple_pdf([b"BT /F1 11 Tf 72 700 Td 14 TL " + op * n + b"ET"] * rng.choice([1, 5]))
    body = zlib.compress(b"BT /F1 9 Tf 72 700 Td " + op * rng.choice([10, 100, 1000]) + b"ET")
    page = zlib.compress(b"/Fm0 Do " * rng.choice([5000, 50_000]))
    objs = [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 1 0 R >> >> "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % len(body) + body + b"\nendstream",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(page) + page + b"\nendstream",
    ]
    pages = rng.choice([1, 50])
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    for _ in range(pages):
        objs.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Fm0 2 0 R >> "
            b"/Font << /F1 1 0 R >> >> /Contents 3 0 R >>" % (4 + pages)
        )
    objs.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
    objs.append(b"<< /Type /Catalog /Pages %d 0 R >>" % (5 + pages))
    return pdf_document(objs, root=len(objs))


# ---------------------------------------------------------------- generic byte mutations


def _flip(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 8, 64])):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _set_bytes(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 4, 32])):
        out[rng.randrange(len(out))] = rng.choice(
            [0, 0xFF, 0x7F, 0x80, ord("<"), ord(">"), ord("/"), ord("%")]
        )
    return bytes(out)


def _truncate(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _truncate_keep_tail(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    """Cut from the middle but keep the last 200 bytes (so %%EOF and zip directories survive)."""
    cut = rng.randrange(1, max(2, len(data) - 200))
    return data[:cut] + data[-200:]


def _dup_chunk(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice([1, 16, 256, 4096]))
    return data[:j] + data[i:j] * rng.choice([1, 2, 100, 2000]) + data[j:]


def _del_chunk(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice([1, 16, 256, 4096]))
    return data[:i] + data[j:]


def _splice(rng: random.Random, data: bytes, seeds: dict[str, bytes]) -> bytes:
    other = seeds[rng.choice(sorted(seeds))]
    return data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]


def _prefix(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    return (
        rng.choice(
            [
                b"\xef\xbb\xbf",
                b"\xff\xfe",
                b"\xfe\xff",
                b"\xff\xfe\x00\x00",
                b"\x00",
                b"\x00" * 100,
                b"%PDF-1.7\n",
                b"PK\x03\x04",
                b"<html>",
                b"# ",
            ]
        )
        + data
    )


def _nuls(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 10, 1000])):
        out.insert(rng.randrange(len(out)), 0)
    return bytes(out)


def _bad_unicode(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    junk = rng.choice(
        [b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80", b"\xd8\x00", b"\xff\xfe\x00\xd8"]
    )
    i = rng.randrange(len(data))
    return data[:i] + junk * rng.choice([1, 10, 500]) + data[i:]


def _utf16(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    text = data.decode("utf-8", errors="replace")
    encoded = text.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
    if rng.random() < 0.5:
        encoded = encoded[: len(encoded) - 1]  # an odd number of bytes
    return encoded


GENERIC = [
    _flip,
    _set_bytes,
    _truncate,
    _truncate_keep_tail,
    _dup_chunk,
    _del_chunk,
    _splice,
    _prefix,
    _nuls,
    _bad_unicode,
    _utf16,
]

# ---------------------------------------------------------------- DOCX member mutations

_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE w:document [<!ENTITY a "lollollollollollol">'
    + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9))
    + b"]>\n"
)
_XXE = b'<?xml version="1.0"?>\n<!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'


def _xml_mutation(rng: random.Random, xml: bytes) -> bytes:
    kind = rng.randrange(12)
    body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", xml)
    if kind == 0:
        return xml[: rng.randrange(1, len(xml))]
    if kind == 1:
        return _LAUGHS + body.replace(b"</w:t>", b"&j;</w:t>", 3)
    if kind == 2:
        return _XXE + body.replace(b"</w:t>", b"&x;</w:t>", 1)
    if kind == 3:
        attr = rng.randbytes(3_000_000).hex().encode()[:6_000_000]
        return re.sub(rb"<w:p([ >])", b'<w:p w:rsidR="' + attr + b'"\\1', body, count=1)
    if kind == 4:
        depth = rng.choice([300, 5000, 100_000])
        deep = b"<w:sdt><w:sdtContent>" * depth + b"<w:p><w:r><w:t>deep</w:t></w:r></w:p>"
        deep += b"</w:sdtContent></w:sdt>" * depth
        return body.replace(b"<w:body>", b"<w:body>" + deep, 1)
    if kind == 5:
        return (
            body.replace(
                b"<w:tc>",
                b'<w:tc><w:tcPr><w:gridSpan w:val="%d"/></w:tcPr>'
                % rng.choice([2**31 - 1, 10**9, 10**7, -5, 0]),
                1,
            )
            if b"<w:tc>" in body
            else body.replace(
                b"<w:body>",
                b'<w:body><w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="1000000000"/></w:tcPr>'
                b"<w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
                1,
            )
        )
    if kind == 6:
        val = rng.choice([b"x", b"-1", b"99999999999999999999", b"", b"1.5"])
        return body.replace(b"<w:pPr>", b'<w:pPr><w:outlineLvl w:val="' + val + b'"/>', 1).replace(
            b"<w:p>", b'<w:p><w:pPr><w:outlineLvl w:val="' + val + b'"/></w:pPr>', 1
        )
    if kind == 7:
        return re.sub(rb"<w:t([ >])", b"<w:t\\1" + b"\x00\x01", body, count=5)
    if kind == 8:
        return body.replace(b'w:val="', b'w:val="' + b"\xff", 3)
    if kind == 9:
        many = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * rng.choice([10_000, 200_000])
        return body.replace(b"<w:body>", b"<w:body>" + many, 1)
    if kind == 10:
        rows = b'<w:tr><w:tc><w:tcPr><w:vMerge w:val="continue"/></w:tcPr><w:p/></w:tc></w:tr>' * 3000
        return body.replace(b"<w:body>", b"<w:body><w:tbl>" + rows + b"</w:tbl>", 1)
    cut = rng.randrange(len(body))
    return body[:cut] + rng.choice([b"<", b"&", b"]]>", b"<!--", b"<w:p", b"\x00"]) + body[cut:]


def _docx_mutation(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        members = {i.filename: zin.read(i) for i in zin.infolist()}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError):
        return data
    names = sorted(members)
    kind = rng.randrange(7)
    if kind == 0:
        target = rng.choice(
            [
                "word/document.xml",
                "word/styles.xml",
                "docProps/core.xml",
                "word/_rels/document.xml.rels",
                "[Content_Types].xml",
                "_rels/.rels",
                "word/numbering.xml",
                "word/settings.xml",
                rng.choice(names),
            ]
        )
        if target in members:
            members[target] = _xml_mutation(rng, members[target])
    elif kind == 1:
        target = rng.choice(["word/document.xml"] * 3 + ["word/styles.xml", "docProps/core.xml"])
        if target in members:
            members[target] = _xml_mutation(rng, members[target])
    elif kind == 2:
        for name in rng.sample(names, rng.choice([1, 2])):
            if name != "word/document.xml":
                del members[name]
    elif kind == 3:
        ct = members.get("[Content_Types].xml", b"")
        members["[Content_Types].xml"] = ct.replace(
            b"document.main+xml", rng.choice([b"template.main+xml", b"spreadsheetml.sheet.main+xml", b"x"])
        )
    elif kind == 4:
        rels = members.get("word/_rels/document.xml.rels", b"")
        members["word/_rels/document.xml.rels"] = rels.replace(
            b'Target="',
            rng.choice([b'Target="../../../../etc/', b'Target="missing/', b'Target="http://x/', b'Target="']),
            2,
        )
        members["_rels/.rels"] = members.get("_rels/.rels", b"").replace(
            b"word/document.xml",
            rng.choice([b"word/document.xml", b"word/nothere.xml", b"/word/../word/document.xml"]),
        )
    elif kind == 5:
        styles = members.get("word/styles.xml", b"")
        # every style based on itself: cycles in base_style
        members["word/styles.xml"] = re.sub(
            rb'(<w:style [^>]*w:styleId="([^"]+)"[^>]*>)', rb'\1<w:basedOn w:val="\2"/>', styles
        )
    else:
        members[rng.choice(names)] = rng.randbytes(rng.choice([10, 1000]))
    out = io.BytesIO()
    method = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
    with zipfile.ZipFile(out, "w", compression=method) as zout:
        for name, body in members.items():
            zout.writestr(name, body)
    return out.getvalue()


def _zip_header_mutation(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    """Damage the zip container itself: flags (encrypted), methods, sizes, names, offsets."""
    out = bytearray(data)
    sig = rng.choice([b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"])
    spots = [m.start() for m in re.finditer(re.escape(sig), data)]
    if not spots:
        return data
    at = rng.choice(spots)
    field = {
        b"PK\x03\x04": [6, 8, 14, 18, 22, 26, 28],
        b"PK\x01\x02": [8, 10, 16, 20, 24, 28, 30, 42],
        b"PK\x05\x06": [8, 10, 12, 16, 20],
    }[sig]
    off = at + rng.choice(field)
    value = rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, 99, 12, 14, 0x7FFFFFFF])
    if off + 4 <= len(out):
        out[off : off + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    return bytes(out)


# ---------------------------------------------------------------- PDF structure mutations


def _inflate_streams(data: bytes) -> list[tuple[int, int, bytes]]:
    found = []
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        if end < 0:
            continue
        try:
            found.append((m.end(), end, zlib.decompress(data[m.end() : end].rstrip(b"\r\n"))))
        except zlib.error:
            continue
    return found


def _pdf_mutation(rng: random.Random, data: bytes, seeds: dict[str, bytes]) -> bytes:
    kind = rng.randrange(12)
    if kind == 0:
        return re.sub(
            rb"/Length \d+",
            lambda _: b"/Length %d" % rng.choice([0, 1, 10**9, -5, 99999]),
            data,
            count=rng.choice([1, 3]),
        )
    if kind == 1:
        return re.sub(
            rb"\n(\d{10}) 00000 n",
            lambda m: (
                b"\n%010d 00000 n" % rng.choice([0, 1, int(m.group(1)) + rng.randint(-20, 20), 9_999_999_999])
            ),
            data,
        )
    if kind == 2:
        value = rng.choice([b"2147483647", b"99999999999999999999", b"-1", b"0", b"1e9", b"(x)"])
        return re.sub(rb"/Count \d+", b"/Count " + value, data, count=1)
    if kind == 3:  # the page tree lists itself as a kid
        return re.sub(
            rb"(\d+) 0 obj\n<< /Type /Pages /Kids \[",
            rb"\1 0 obj\n<< /Type /Pages /Kids [\1 0 R ",
            data,
            count=1,
        )
    if kind == 4:  # pages become their own parent, or the catalog
        return data.replace(b"/Type /Page /Parent", b"/Type /Pages /Kids [3 0 R] /Count 4 /Parent", 1)
    if kind == 5:
        return re.sub(rb"startxref\n\d+", b"startxref\n%d" % rng.choice([0, 5, 10**12, len(data) - 20]), data)
    if kind == 6:  # mutate a content stream's operators, keep the stream valid
        streams = _inflate_streams(data)
        if not streams:
            return data
        start, end, raw = rng.choice(streams)
        choice = rng.randrange(7)
        if choice == 0:
            raw = raw.replace(b" Tf", b" Tf 1e300 0 0 1e300 0 0 Tm", 1)
        elif choice == 1:
            raw = re.sub(rb"/F(\d) [\d.]+ Tf", rb"/F\1 1e308 Tf", raw, count=1)
        elif choice == 2:
            raw = b"q " * 100_000 + raw
        elif choice == 3:
            raw = raw.replace(b"Td", b"Td [(a) -1e400 (b) 99999999999999999999] TJ", 1)
        elif choice == 4:
            raw = raw + b"\nBI /W 99999 /H 99999 /BPC 8 /CS /RGB ID " + rng.randbytes(500) + b" EI"
        elif choice == 5:
            raw = raw.replace(b"Tj", b"Tj " + b"(x) Tj " * 200_000, 1)
        else:
            raw = raw.replace(b"Tf", b"Tf nan nan nan nan nan nan cm", 1)
        packed = zlib.compress(raw)
        new = data[:start] + packed + b"\n" + data[end:]
        return re.sub(
            rb"/Length \d+ /Filter /FlateDecode >>\nstream\n" + re.escape(packed[:8]),
            b"/Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed[:8],
            new,
            count=1,
        )
    if kind == 7:
        if rng.random() < 0.5:
            return _forms_pdf(rng.choice([20, 25, 30]), 2)
        return _repeat_pdf(rng)
    if kind == 8:
        return _forms_pdf(rng.choice([1, 3]), rng.choice([1, 2]), self_ref=True)
    if kind == 9:  # object stream header damage
        objstm = seeds["objstm.pdf"]
        return objstm.replace(b"/N 1", b"/N %d" % rng.choice([0, 2, 10**9, -1]), 1).replace(
            b"/First 4", b"/First %d" % rng.choice([4, 0, 10**9, -1]), 1
        )
    if kind == 10:  # object stream contains itself / xref stream self reference
        objstm = seeds["objstm.pdf"]
        return objstm.replace(b"5 0 <<", rng.choice([b"6 0 <<", b"7 0 <<", b"1 0 <<"]), 1)
    # a second incremental update whose /Prev points at itself
    xref = data.rfind(b"startxref")
    prev = int(re.search(rb"startxref\s+(\d+)", data[xref:]).group(1)) if xref >= 0 else 0
    tail = b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 14 /Root 12 0 R /Prev %d >>\n" % len(data)
    return data + tail + b"startxref\n%d\n%%%%EOF\n" % (len(data) if rng.random() < 0.5 else prev)


# ---------------------------------------------------------------- HTML and text shapes


def _html_shape(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    n = rng.choice([1_000, 50_000, 300_000])
    head = b"<html><head><title>T</title></head><body><h1>Privacy</h1><p>We collect data.</p>"
    shapes = [
        lambda: head + b"<p>x" * n,
        lambda: head + b"<li>x" * n,
        lambda: head + b"<b><i>" * n + b"text",
        lambda: head + b"<div><span></div>" * n,
        lambda: head + b"<a " * n,
        lambda: head + b'<p title="' + b"x" * (n * 30) + b'">text</p>',
        lambda: head + b"<!--" + b"<div>" * n,
        lambda: head + b"<table>" * n + b"<td>cell",
        lambda: head + b"<td>x</td>" * n,
        lambda: head + b"</div>" * n + b"<p>text</p>",
        lambda: head + b"<![CDATA[" * n,
        lambda: (
            b"<html><head><meta charset="
            + rng.choice([b"idna", b"utf-7", b"utf-16", b"rot13", b"x" * 100, b"uu", b"punycode", b"cp037"])
            + b"></head>"
            + data
        ),
        lambda: head + b"<x" + b"-" * n + b">" + b"<div>" * 1000,
        lambda: head + b"<h1>" * n + b"title",
        lambda: head + b"<!--x>" * n,
        lambda: head + b"<![CDATA[x>" * n,
        lambda: head + b"<p>" + b"x" * (n * 30) + b"<!--",
    ]
    return rng.choice(shapes)()


def _text_shape(rng: random.Random, data: bytes, _: dict[str, bytes]) -> bytes:
    big = rng.choice([10_000, 100_000, 1_000_000, 10_000_000])
    md = b"# Notice\n\n- one item\n- two items\n\n"
    kind = rng.randrange(18)
    shapes = [
        lambda: md + b"word " * (big // 5),
        lambda: md + b"#" * big,
        lambda: md + b"|" * big + b"\n",
        lambda: md + b"# a" + b" " * big + b"b\n",
        lambda: md + b"[" * big,
        lambda: md + b"[a](" * (big // 4),
        lambda: md + b"<a" * (big // 2),
        lambda: md + b"_a" * (big // 2),
        lambda: md + b"*" * big + b"a",
        lambda: md + b"** a" * (big // 4),
        lambda: md + b"`" * big,
        lambda: md + b"| a " * (big // 4) + b"\n" + b"|--" * (big // 3) + b"x\n",
        lambda: md + b"- " * (big // 2) + b"x\n",
        lambda: md + b" \t" * (big // 2) + b"x\n",
        lambda: b"A" * big,
        lambda: b"Heading\n" + b"=" * big + b"x\n",
        lambda: md + b"\n" * big,
        lambda: md + (b"Short line.\n" * (big // 12)),
    ]
    out = shapes[kind]()
    if rng.random() < 0.2:
        out = out.replace(b"# Notice", b"Notice", 1)  # let detection pick text instead of markdown
    return out


def _seeds() -> dict[str, bytes]:
    seeds = {p.name: p.read_bytes() for p in SEED_FILES if p.suffix in SEED_SUFFIXES}
    seeds["objstm.pdf"] = _objstm_pdf()
    return seeds


def make_case(rng: random.Random, seeds: dict[str, bytes]) -> tuple[str, str, bytes]:
    """(seed name, mutation name, bytes) for one case."""
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    pools: list[Callable[[random.Random, bytes, dict[str, bytes]], bytes]] = list(GENERIC)
    if name.endswith(".docx"):
        pools += [_docx_mutation] * 8 + [_zip_header_mutation] * 2
    elif name.endswith(".pdf"):
        pools += [_pdf_mutation] * 8
    elif name.endswith(".html"):
        pools += [_html_shape] * 3
    else:
        pools += [_text_shape] * 4
    mutate = rng.choice(pools)
    out = mutate(rng, data, seeds)
    if rng.random() < 0.1:  # stack a second generic mutation
        mutate2 = rng.choice(GENERIC)
        out = mutate2(rng, out, seeds) if out else out
        return name, f"{mutate.__name__}+{mutate2.__name__}", out
    return name, mutate.__name__, out


# ---------------------------------------------------------------- worker


def _worker() -> None:
    """Read pickled (name, bytes) cases from stdin; write pickled outcomes to stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
    from warden.documents import DocumentCorrupt, DocumentError, load_bytes

    known = ("PdfReadError", "PdfStreamError", "BadZipFile", "XMLSyntaxError")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        name, data = pickle.loads(stdin.read(struct.unpack("<Q", head)[0]))
        with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM so the peak is this case's
            fh.write("5")
        started = time.perf_counter()
        detail = ""
        try:
            doc = load_bytes(data, name)
            outcome = "ok"
            detail = f"{doc.format}, {len(doc.passages)} passages"
        except DocumentError as exc:
            cause = exc.__cause__
            if isinstance(cause, MemoryError) or isinstance(getattr(cause, "__cause__", None), MemoryError):
                outcome = "DEFECT:memory-error"
            elif name not in str(exc):
                outcome = f"DEFECT:message-without-file:{exc.code}"
            elif (
                isinstance(exc, DocumentCorrupt)
                and cause is not None
                and "cannot be read (" in exc.reason
                and type(cause).__name__ not in known
            ):
                outcome = f"net:{type(cause).__name__}"
            else:
                outcome = f"error:{exc.code}"
            detail = str(exc).splitlines()[0][:300]
        except BaseException as exc:  # the point is to see anything that escapes
            outcome = f"DEFECT:exception:{type(exc).__name__}"
            detail = f"{exc}"[:300]
        wall = time.perf_counter() - started
        with open("/proc/self/status") as fh:
            peak = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
        body = pickle.dumps((outcome, detail, wall, peak))
        stdout.write(struct.pack("<Q", len(body)) + body)
        stdout.flush()


class _Runner:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        return self.proc

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, name: str, data: bytes) -> tuple[str, str, float, float]:
        import select

        proc = self._start()
        assert proc.stdin and proc.stdout
        body = pickle.dumps((name, data))
        proc.stdin.write(struct.pack("<Q", len(body)) + body)
        proc.stdin.flush()
        started = time.perf_counter()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self.kill()
            return "DEFECT:hang", f"over {self.timeout:.0f} s", time.perf_counter() - started, 0.0
        head = proc.stdout.read(8)
        if len(head) < 8:
            rc = proc.wait()
            self.proc = None
            return f"DEFECT:worker-died:{rc}", "", time.perf_counter() - started, 0.0
        return pickle.loads(proc.stdout.read(struct.unpack("<Q", head)[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case is a hang")
    parser.add_argument("--rss-mb", type=float, default=600.0, help="peak RSS that counts as a blow-up")
    parser.add_argument("--slow", type=float, default=5.0, help="list cases slower than this")
    parser.add_argument("--show", type=int, default=5, help="examples printed per non-ok class")
    parser.add_argument("--save", type=Path, help="folder to write DEFECT and slow inputs to")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker()
        return
    seeds = _seeds()
    rng = random.Random(args.seed)
    runner = _Runner(args.timeout)
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    slow: list[str] = []
    started = time.perf_counter()
    try:
        for n in range(args.cases):
            seed, mutation, data = make_case(rng, seeds)
            name = f"case{n}-{mutation}-{seed}"
            outcome, detail, wall, peak = runner.run(name, data)
            if peak > args.rss_mb:
                outcome = f"DEFECT:rss>{args.rss_mb:.0f}MB"
                runner.kill()
            counts[outcome] += 1
            line = f"{name} ({len(data):,} B, {wall:.2f} s, {peak:.0f} MB): {detail}"
            if outcome != "ok" and len(examples.setdefault(outcome, [])) < args.show:
                examples[outcome].append(line)
            if wall > args.slow and not outcome.startswith("DEFECT"):
                slow.append(line)
            if args.save and (outcome.startswith("DEFECT") or wall > args.slow):
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / name).write_bytes(data)
    finally:
        runner.kill()
    print(f"{sum(counts.values())} cases, seed {args.seed}, {time.perf_counter() - started:.0f} s")
    for outcome, count in sorted(counts.items(), key=lambda kv: (not kv[0].startswith("DEFECT"), kv[0])):
        print(f"  {count:6d}  {outcome}")
    for outcome, lines in sorted(examples.items()):
        print(f"\n{outcome}:")
        for line in lines:
            print(f"  {line}")
    if slow:
        print(f"\nslower than {args.slow} s:")
        for line in slow[: args.show * 4]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
