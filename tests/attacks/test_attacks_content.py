"""Untrusted content and what it can make Warden do: documents, file names, runbooks and planner
drafts written by an attacker, through the real CLI (subprocesses), the real server (uvicorn)
and the service, on real DuckDB / Postgres ledgers. Each test asserts the secure behaviour of
a defect the review confirmed. All are fixed and stay as regression tests (controls and
lone surrogates replaced at the loader boundary, document names cleaned by the service, the
CLI escaping controls, only WHATWG charset labels honoured, over 5,000 passages refused
`document_too_complex`, a decision sent straight to a Temporal workflow refused unless a
Warden service signed it, and under the kill switch whoever signed it). The attacks that held
are listed in the module's final comment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.attacks._cli import warden_cli
from tests.service._acme_tree import acme_copy

from warden.testing import pg_unavailable_reason, scratch_database

REPO = Path(__file__).resolve().parents[2]
ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31m"
"""Terminal control: OSC 0 sets the window title, CSI 2J clears the screen, CSI 31m paints red
(OSC 52 would write the clipboard the same way)."""


_warden = warden_cli


# --- 1. Terminal escape sequences from a notice reach the analyst's terminal -----------------


def test_terminal_escape_sequences_in_a_notice_never_reach_the_terminal(tmp_path: Path) -> None:
    """A notice carries ESC sequences (under the 2% control-character ratio that `decode_text`
    tolerates), and so does its file name. They are stored with the passage and the run's
    document name, and `warden findings` (the quote), `extract` (the passage), `runs` (the name)
    and `report -f md` (both) print them raw: whoever reads them in a terminal gets the window title
    set, the screen cleared, colours changed (and, where OSC 52 is honoured, the clipboard
    written). An uploaded file's name reaches `warden runs` of a server's CLI client the same way."""
    acme = acme_copy(tmp_path / "acme")
    sentence = (
        f"We collect your email address {ESCAPES}and use it for marketing newsletters and analytics cookies."
    )
    notice = acme.base / f"notice{ESCAPES}.md"
    notice.write_text(acme.notice.read_text().replace("Acme Ltd runs", f"{sentence}\n\nAcme Ltd runs", 1))
    root = acme.completed(notice)

    shown = {
        "findings": _warden(acme.home, acme.policy, "findings", root, "--as", "dora@acme"),
        "extract": _warden(acme.home, acme.policy, "extract", str(notice)),
        "runs": _warden(acme.home, acme.policy, "runs", "--as", "dora@acme"),
        "report": _warden(acme.home, acme.policy, "report", root, "-f", "md", "--as", "dora@acme"),
    }
    for name, done in shown.items():
        assert done.returncode == 0, (name, done.stderr)
    raw = sorted(name for name, done in shown.items() if "\x1b" in done.stdout + done.stderr)
    assert raw == [], raw


# --- 2. A NUL in a notice on the Postgres ledger ----------------------------------------------


def test_a_nul_in_a_notice_is_not_an_internal_error_on_the_postgres_ledger(tmp_path: Path) -> None:
    """`looks_binary` looks for NUL in the first 8 KB only and `decode_text` tolerates 2% control
    characters, so a NUL further on survives into the passages. DuckDB stores it; Postgres
    refuses text with NUL: `warden analyse` dies with exit 70, `internal error: DataError:
    PostgreSQL text fields cannot contain NUL (0x00) bytes` (the server's upload path fails the
    same way in its worker)."""
    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    acme = acme_copy(tmp_path / "acme")
    padding = "Padding sentence about cookies and analytics on our website. " * 200
    acme.notice.write_text(
        acme.notice.read_text()
        + f"\n\n{padding}\n\nWe share data with partners\x00 for analytics purposes and marketing.\n"
    )
    with scratch_database("rev2_nul") as url:
        done = _warden(
            acme.home,
            acme.policy,
            "analyse",
            str(acme.notice),
            "--tenant",
            "acme",
            "--as",
            "ana@acme",
            WARDEN_LEDGER_URL=url,
        )
    assert done.returncode != 70 and "internal error" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 0, done.stderr[-600:]  # a NUL is no reason to refuse a notice


# --- 3. A document whose file name is not UTF-8 ------------------------------------------------


def test_a_document_whose_name_is_not_utf8_is_not_an_internal_error(tmp_path: Path) -> None:
    """Linux file names are bytes; Python hands `b'\\xff\\xfe.md'` over as '\\udcff\\udcfe.md'
    (surrogateescape). `extract` reads it fine, but `analyse` puts the name in the run row and
    DuckDB refuses the lone surrogate: exit 70, `internal error: InvalidInputException: ...
    surrogate '\\udcff' ... is not allowed` (on Postgres: `UnicodeEncodeError`)."""
    acme = acme_copy(tmp_path / "acme")
    odd = Path(os.fsdecode(bytes(acme.base) + b"/\xff\xfe-notice.md"))
    odd.write_bytes(acme.notice.read_bytes())
    done = _warden(acme.home, acme.policy, "analyse", str(odd), "--tenant", "acme", "--as", "ana@acme")
    assert done.returncode != 70 and "internal error" not in done.stderr, done.stderr[-600:]
    assert done.returncode in (0, 1, 2), done.stderr[-600:]


# --- 4. A decision sent straight to a Temporal workflow under an engaged kill switch ---------
#
# Moved to tests/temporal/test_direct_decisions.py (it needs the Temporal dev server the
# tests/temporal fixtures start once per session): a direct `decide` is refused unless a Warden
# service signed it, and under the kill switch whoever signed it.


# --- 5. An HTML notice that declares a Python codec as its charset ---------------------------

ESCAPE_CHARSET_HTML = (
    '<html><head><meta charset="unicode_escape"><title>Notice</title></head><body><h1>Privacy notice</h1>'
    + "<p>We collect your email address for marketing newsletters and analytics cookies on our "
    "website, and keep it for two years.</p>\n"
    * 5
    + r"<p>We share your data with partners \ud800 for analytics purposes and keep it for two "
    r"years after your last order.</p></body></html>"
).encode()
"""`decode_text` decodes by the page's `<meta charset>` with any codec Python knows: the
`unicode_escape` codec turns the six characters `\\ud800` into a lone surrogate (and `\\x00`
into a NUL past `looks_binary`'s look)."""


def test_an_html_charset_naming_a_python_codec_is_not_an_internal_error(tmp_path: Path) -> None:
    """`warden extract` exits 70 (`UnicodeEncodeError ... surrogates not allowed` printing the
    passages) and `warden analyse` exits 70 (`PydanticSerializationError ... surrogates not
    allowed`)."""
    acme = acme_copy(tmp_path / "acme")
    page = acme.base / "notice.html"
    page.write_bytes(ESCAPE_CHARSET_HTML)
    done = {
        "extract": _warden(acme.home, acme.policy, "extract", str(page)),
        "analyse": _warden(
            acme.home, acme.policy, "analyse", str(page), "--tenant", "acme", "--as", "ana@acme"
        ),
    }
    outcome = {name: (d.returncode, "internal error" in d.stderr) for name, d in done.items()}
    assert all(code in (0, 1) and not internal for code, internal in outcome.values()), {
        name: d.stderr[-400:] for name, d in done.items()
    }


def test_an_uploaded_html_charset_naming_a_python_codec_fails_with_a_code(live: Any) -> None:
    """Through `POST /api/runs` the upload is taken (202) and the worker's ingest fails the run
    with `internal error (PydanticSerializationError: ...)` and a `warden resume` hint that can
    never help, instead of a document error code (or a run over the text with U+FFFD)."""
    with live.client("ana@acme") as c:
        r = c.post("/api/runs", data={"tenant": "acme"}, files={"file": ("notice.html", ESCAPE_CHARSET_HTML)})
        assert r.status_code in (202, 415, 422), r.text
        if r.status_code != 202:
            return
        run = r.json()["run_id"]
        nodes = live.settle("ana@acme", run)
    reason = nodes[0]["status_reason"] or ""
    assert "internal error" not in reason, reason


# --- 6. A PDF whose font maps a glyph to a lone surrogate ------------------------------------


def _pdf_mapping_a_glyph_to(code_point: bytes) -> bytes:
    """One page of four sentences in Helvetica whose /ToUnicode CMap maps byte 0x01 to
    `code_point` (UTF-16BE hex); the second sentence draws byte 0x01."""
    import zlib

    from warden.testing import pdf_document

    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X-UCS def "
        b"/CMapType 2 def 1 begincodespacerange <00> <FF> endcodespacerange "
        b"1 beginbfchar <01> <" + code_point + b"> endbfchar "
        b"1 beginbfrange <20> <7E> <0020> endbfrange endcmap "
        b"CMapName currentdict /CMap defineresource pop end end"
    )
    lines = [
        b"We collect your email address for marketing newsletters.",
        b"We use analytics cookies on our website \x01 and keep logs.",
        b"You may ask us for access to your personal data at any time.",
        b"We keep your data for two years after your last order.",
    ]
    content = zlib.compress(
        b"BT /F1 12 Tf 72 760 Td 14 TL " + b" ".join(b"(%s) '" % x for x in lines) + b" ET"
    )
    return pdf_document(
        [
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 5 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 1 0 R >> >> /Contents 3 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
            b"<< /Type /Catalog /Pages 2 0 R >>",
        ],
        root=6,
    )


def test_a_pdf_glyph_mapped_to_a_lone_surrogate_is_not_an_internal_error(tmp_path: Path) -> None:
    """pypdf decodes ToUnicode CMaps with `surrogatepass`, so a 900-byte PDF puts '\\ud800' in
    a passage; the loader's boundary does not normalise it and `warden analyse` dies with exit
    70 (`PydanticSerializationError ... surrogates not allowed`) when the run's state is
    serialised."""
    acme = acme_copy(tmp_path / "acme")
    pdf = acme.base / "notice.pdf"
    pdf.write_bytes(_pdf_mapping_a_glyph_to(b"D800"))
    done = _warden(acme.home, acme.policy, "analyse", str(pdf), "--tenant", "acme", "--as", "ana@acme")
    assert done.returncode in (0, 1) and "internal error" not in done.stderr, done.stderr[-500:]


# --- 7. An HTML notice that declares charset=punycode -----------------------------------------


def test_an_html_charset_of_punycode_does_not_hang_the_loader(tmp_path: Path) -> None:
    """Python's punycode codec inserts each decoded character into a growing string: quadratic.
    A 300 KB page took 5 s of CPU, 600 KB 40 s, 1.2 MB 148 s, so a 20 MB upload (the server's
    limit) would hold a worker for hours. No time budget applies before the decode. Real HTML of
    this size loads in a second or two; 20 s is generous."""
    acme = acme_copy(tmp_path / "acme")
    page = acme.base / "notice.html"
    page.write_bytes(
        b'<!DOCTYPE html><html><head><meta charset="punycode"><title>Privacy notice</title></head>'
        b"<body><p>We collect your email address for marketing.</p>-" + b"ab" * 600_000 + b"</body></html>"
    )
    try:
        done = _warden(acme.home, acme.policy, "extract", str(page), "--json", timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("extract of a 1.2 MB HTML page ran past 20 s")
    assert done.returncode in (0, 1), done.stderr[-400:]


# --- 8. Many tiny passages --------------------------------------------------------------------


def test_a_notice_of_many_tiny_sections_stays_within_the_memory_bound(tmp_path: Path) -> None:
    """99,900 headings each over two sentences (18 MB, 199,800 lines: under the 200,000-line and
    20 MB upload limits) are 99,900 passages, none merged (each has its own heading). `warden
    analyse` only ingests, plans and guards before the approval, and peaks at ~880 MB (the
    fuzzing campaigns of docs/RELIABILITY.md count over ~600 MB as a defect); `warden extract
    --json` of half of it (5.7 MB) took 56 s and 1.16 GB. No cap on passages exists."""
    from warden.testing import PEAK_RSS_PRELUDE, split_peak_rss

    acme = acme_copy(tmp_path / "acme")
    notice = acme.base / "many.md"
    notice.write_text(
        "".join(
            f"# Section {i}\nWe collect your email address {i} for marketing newsletters and share it "
            "with partners for ads. We keep it for two years after your last order, then delete it.\n"
            for i in range(99_900)
        )
    )
    env = {**os.environ, "WARDEN_HOME": str(acme.home), "WARDEN_POLICY": str(acme.policy)}
    for name in ("WARDEN_SERVER", "WARDEN_TOKEN"):
        env.pop(name, None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_RSS_PRELUDE,
            "analyse",
            str(notice),
            "--tenant",
            "acme",
            "--as",
            "ana@acme",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    err, peak_mb = split_peak_rss(done.stderr)
    assert done.returncode in (0, 1) and "internal error" not in err, err[-400:]
    assert peak_mb is not None and peak_mb < 600, f"peak RSS {peak_mb:.0f} MB"


# --- Attacks tried that held (probed through the same CLI, service and live server) ----------
#
# - Runbooks through `warden validate --json` / `analyse --runbook`: a YAML "\ud800" escape
#   (load_error, line 6), a JSON runbook with a lone surrogate (load_error), ESC/BEL in a
#   description (unsafe_input: control characters), a duplicate `tenant:` key (load_error,
#   duplicate key), a merge key overriding required_role (load_error: merge keys refused), an
#   analyser name with a Cyrillic "о" (schema: slug pattern), `execute_workflow: "{{
#   inputs.document }}"` and a child taken from a non-planner step's output (contract_mismatch).
# - The review page: step ids, analysers, systems, descriptions and cites are autoescaped, a cite
#   that is not a passage of the run is shown as text only, live.js sets text only; the HTML
#   report and ROPA HTML escape every value; notebooks' tables escape cells.
# - The planner: the offline planner copies no notice text into the runbook (reasons from topic
#   names, cites from passage ids); at execution the systems an analyser may read are the run
#   tenant's own inventory only (`step.py` passes `tenant.systems`), so a drafted foreign system
#   fails the guard and could not resolve anyway.
# - Seen on the way, same classes as the defects above (not separate tests): `&#27;` entities
#   in HTML turn into ESC after `decode_text`'s control-character count (extract printed them);
#   a PDF ToUnicode map to <0000> or <001B> puts NUL or ESC in passages past `looks_binary`.
#   Fixed with them: the loader boundary cleans every format's text after extraction
#   (tests/documents/test_safetext.py).
#
# The tests of sections 1-3 and 5-8 were strict xfails until the fixes (documents/safetext.py,
# charsets.py, the passage cap in passages.py, cli/_output.py, service/starting.py); they are
# regression tests now. Section 4 was fixed in graph/temporal (signing.py, the activity's check)
# and graph/nodes/approval.py (take_decision refuses under the kill switch).
