"""Hostile documents, generated here, through the real commands: each ends with a clear coded
error, and the wall time and peak RSS of the process that read it are measured and printed.

Bounds: memory is asserted (a loader that inflates a bomb or a 100 MB file would blow it);
time is only guarded against hangs, never asserted (the figures are printed instead).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from _reliability import run_warden_measured
from _wardencli import REPO, Warden, acme_policy_data, write_yaml

NOTICE_PDF = REPO / "fixtures" / "notices" / "northwind_health.pdf"
PEAK_RSS_LIMIT_MB = 600
"""Far above a normal notice (~150 MB with LangGraph loaded), far below what inflating a bomb costs."""


def _truncated_pdf(path: Path) -> None:
    data = NOTICE_PDF.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupted_pdf(path: Path) -> None:
    rng = random.Random(13)
    path.write_bytes(b"%PDF-1.7\n" + rng.randbytes(64_000) + b"\n%%EOF\n")


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(NOTICE_PDF.read_bytes())))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    with path.open("wb") as fh:
        writer.write(fh)


def _thousands_of_pages(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(5000):
        writer.add_blank_page(width=595, height=842)
    with path.open("wb") as fh:
        writer.write(fh)


def _deep_html(path: Path) -> None:
    depth = 200_000
    path.write_text("<html><body>" + "<div>" * depth + "Privacy" + "</div>" * depth + "</body></html>")


def _hundred_mb_text(path: Path) -> None:
    line = b"We collect your name and email address to run the service. " * 16 + b"\n"
    with path.open("wb") as fh:
        for _ in range(100 * 2**20 // len(line) + 1):
            fh.write(line)


def _junk_pdf(path: Path) -> None:
    path.write_bytes(random.Random(5).randbytes(2**20))


def _zip_bomb_docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<w:document>" + b" " * (200 * 2**20))


HOSTILE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "truncated-pdf": ("cut.pdf", _truncated_pdf, "document_corrupt"),
    "corrupted-pdf": ("damaged.pdf", _corrupted_pdf, "document_corrupt"),
    "encrypted-pdf": ("locked.pdf", _encrypted_pdf, "document_encrypted"),
    "5000-page-pdf": ("huge.pdf", _thousands_of_pages, "document_too_many_pages"),
    "deeply-nested-html": ("deep.html", _deep_html, "document_too_complex"),
    "100-mb-text": ("big.txt", _hundred_mb_text, "document_too_large"),
    "binary-junk-named-pdf": ("notice.pdf", _junk_pdf, "document_unsupported"),
    "zip-bomb-named-docx": ("notice.docx", _zip_bomb_docx, "document_too_large"),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    made = {}
    for case, (name, build, _) in HOSTILE.items():
        made[case] = folder / name
        build(made[case])
    return made


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    return {**env, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_document_gets_a_coded_error_from_extract_in_bounded_memory(
    case: str, hostile_files: dict[str, Path], tmp_path: Path, figures
) -> None:
    path, code = hostile_files[case], HOSTILE[case][2]
    done = run_warden_measured(["extract", str(path)], _env(tmp_path))
    assert done.code == 1, f"{case}: exit {done.code}\n{done.err}"
    assert f"error ({code})" in done.err and "fix" in done.err, done.err
    assert "Traceback" not in done.err
    assert done.peak_rss_mb < PEAK_RSS_LIMIT_MB
    figures.add(
        size_mb=round(path.stat().st_size / 2**20, 2),
        code=code,
        wall_s=round(done.wall_s, 2),
        peak_rss_mb=round(done.peak_rss_mb),
    )


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_document_fails_its_analysis_run_with_the_code(
    case: str, hostile_files: dict[str, Path], tmp_path: Path, figures
) -> None:
    """Through the graph: the run fails at ingest, says why with the code, and nothing runs."""
    path, code = hostile_files[case], HOSTILE[case][2]
    # acme's document roots (in the tests' policy) include pytest's temp folder, so the
    # hostile file is read, rather than refused before reading as outside the roots
    policy = write_yaml(tmp_path / "policy.yaml", acme_policy_data())
    w = Warden(home=tmp_path / "home", policy=policy)
    args = ["analyse", str(path), "--tenant", "acme", "--as", "ana@acme", "--policy", str(policy)]
    done = run_warden_measured(args, _env(w.home))
    assert done.code == 1, f"{case}: exit {done.code}\n{done.out}\n{done.err}"
    assert ": failed" in done.out and f"({code})" in done.out, done.out
    (run,) = w.query("SELECT status, status_reason FROM runs")
    assert run["status"] == "failed" and code in run["status_reason"]
    assert w.query("SELECT count(*) AS n FROM steps")[0]["n"] == 0
    assert done.peak_rss_mb < PEAK_RSS_LIMIT_MB
    figures.add(code=code, wall_s=round(done.wall_s, 2), peak_rss_mb=round(done.peak_rss_mb))
