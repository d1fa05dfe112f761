"""Seeded mutations of the bundled notices: every one ends as passages or a coded DocumentError,
in bounded CPU time. bench/fuzz_documents.py runs the long campaign; this is its quick guard.

The hostile runs are the shapes that once cost quadratic time or memory (unclosed '[', '<',
'<!--', emphasis marks, runs of whitespace, '|--', nested <p>, repeated PDF forms, huge DOCX
gridSpans); the byte mutations (flips, cuts, repeated chunks, splices) keep the error paths honest.
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from pathlib import Path

import pytest

from warden.documents import DOCUMENT_ERROR_CODES, DocumentError, load_bytes

NOTICES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"
SEEDS = {
    p.name: p.read_bytes()
    for p in sorted(NOTICES.glob("*"))
    if p.suffix in {".pdf", ".html", ".docx", ".md", ".txt"}
}
RUNS = [
    b"[",
    b"[a](",
    b"<a ",
    b"<!--x>",
    b"<![CDATA[x>",
    b"*a ",
    b"~~a ",
    b" \t",
    b"|--",
    b"<p>x",
    b"<http://",
    b"_a",
]
CASES = 48
CPU_SECONDS_PER_CASE = 8.0


def _mutate(rng: random.Random, name: str, data: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        out = bytearray(data)
        for _ in range(rng.choice([1, 8, 64])):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == 1:  # truncation
        return data[: rng.randrange(1, len(data))]
    if kind == 2:  # a repeated chunk
        i = rng.randrange(len(data))
        return data[:i] + data[i : i + rng.choice([16, 256])] * rng.choice([2, 500]) + data[i:]
    if kind == 3:  # splice with another format
        other = SEEDS[rng.choice(sorted(SEEDS))]
        return data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]
    if name.endswith(".docx"):  # a cell spanning billions of columns
        with zipfile.ZipFile(io.BytesIO(data)) as zin:
            members = {i.filename: zin.read(i) for i in zin.infolist()}
        members["word/document.xml"] = members["word/document.xml"].replace(
            b"<w:body>",
            b'<w:body><w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2000000000"/></w:tcPr><w:p><w:r>'
            b"<w:t>wide</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
            1,
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for member, body in members.items():
                zout.writestr(member, body)
        return out.getvalue()
    if name.endswith(".pdf"):  # the page's text drawn again and again
        return data.replace(b"/Count 4", b"/Count 4 ", 1) if kind == 4 else _repeated_text_pdf(rng)
    run = rng.choice(RUNS)
    tail = run * (rng.choice([20_000, 60_000]) // len(run))
    at = rng.randrange(len(data)) if kind == 4 else len(data)
    return data[:at] + tail + data[at:]


def _repeated_text_pdf(rng: random.Random) -> bytes:
    from warden.testing import simple_pdf

    return simple_pdf(
        [b"BT /F1 11 Tf 72 700 Td 14 TL " + b"(We share data.) ' " * rng.choice([30_000, 60_000]) + b"ET"]
    )


def _cases() -> list[tuple[str, bytes]]:
    rng = random.Random(20261121)
    out = []
    for n in range(CASES):
        name = rng.choice(sorted(SEEDS))
        out.append((f"case{n}-{name}", _mutate(rng, name, SEEDS[name])))
    return out


@pytest.mark.parametrize(("name", "data"), _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_mutated_notice_gives_passages_or_a_coded_error_quickly(name: str, data: bytes) -> None:
    started = time.process_time()
    try:
        doc = load_bytes(data, name)
    except DocumentError as exc:
        assert exc.code in DOCUMENT_ERROR_CODES and exc.fix
        assert name in str(exc), "the message names the file"
    else:
        assert doc.passages and all(doc.text[p.start : p.end] == p.text for p in doc.passages)
    used = time.process_time() - started
    assert used < CPU_SECONDS_PER_CASE, f"{name}: {used:.1f} s of CPU"
