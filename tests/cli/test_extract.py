"""`warden extract`: the batch path scorers call, and the document path analysts read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from warden.schemas.practices import LABELS

REPO = Path(__file__).resolve().parents[2]
WARDEN = [sys.executable, "-c", "from warden.cli import main; main()"]
NOTICE = REPO / "fixtures" / "notices" / "tallow_and_finch.md"


def _warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WARDEN, *args], capture_output=True, text=True, timeout=120)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_passages_mode_prints_one_row_per_input_row(tmp_path: Path) -> None:
    rows = [
        {"id": "p1", "text": "We retain invoices for seven years.", "context": ["Retention"]},
        {"id": "p2", "text": "Contact us at help@example.com.", "context": []},
        {"id": "p3", "text": "Enjoy the game!", "context": []},
    ]
    result = _warden("extract", "--passages", str(_write(tmp_path, [json.dumps(r) for r in rows])))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["p1", "p2", "p3"]
    assert "retention" in out[0]["labels"]
    assert "controller_contact" in out[1]["labels"]
    assert out[2]["labels"] == []
    assert {label for o in out for label in o["labels"]} <= set(LABELS)


@pytest.mark.parametrize(
    ("bad_line", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"id": "x", "text": 5}', "'text' must be a string"),
        ('{"text": "no id"}', "'id' must be a non-empty string"),
        ('{"id": "x", "text": "t", "context": "Heading"}', "'context' must be a list"),
    ],
)
def test_bad_row_names_its_line_and_exits_2(tmp_path: Path, bad_line: str, needle: str) -> None:
    good = json.dumps({"id": "ok", "text": "fine", "context": []})
    result = _warden("extract", "--passages", str(_write(tmp_path, [good, bad_line])))
    assert result.returncode == 2
    assert "line 2" in result.stderr and needle in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_and_no_input_are_usage_errors(tmp_path: Path) -> None:
    assert _warden("extract", "--passages", str(tmp_path / "nope.jsonl")).returncode == 2
    neither = _warden("extract")
    assert neither.returncode == 2 and "either a document path or --passages" in neither.stderr


def test_batch_path_does_not_import_the_engine_room(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps({"id": "a", "text": "We keep logs.", "context": []})])
    code = (
        "import sys\nfrom warden.cli import main\nsys.argv=['warden','extract','--passages',"
        f"{str(path)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('langgraph','duckdb') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr


@pytest.mark.skipif(not NOTICE.exists(), reason="notice fixtures not present")
def test_document_mode_json_has_passages_and_report() -> None:
    result = _warden("extract", str(NOTICE), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    passages = payload["labelled_passages"]["passages"]
    assert any(p["labels"] for p in passages)
    items = {i["item"]: i for i in payload["transparency_report"]["items"]}
    assert items["processing_purpose"]["status"] == "present"
    for item in items.values():
        if item["status"] == "present":
            assert item["passage_ids"]


@pytest.mark.skipif(not NOTICE.exists(), reason="notice fixtures not present")
def test_document_mode_prints_the_transparency_table() -> None:
    result = _warden("extract", str(NOTICE))
    assert result.returncode == 0, result.stderr
    assert "GDPR transparency" in result.stdout and "missing item(s)" in result.stdout


TRANSPARENCY = REPO / "fixtures" / "transparency"


def test_scope_override_is_applied_and_reported() -> None:
    notice = TRANSPARENCY / "quayside_bakery_art13.md"
    detected = json.loads(_warden("extract", str(notice), "--json").stdout)["transparency_report"]
    assert detected["scope"] == "13" and detected["scope_decision"]["decided_by"] == "notice"
    result = _warden("extract", str(notice), "--json", "--scope", "both")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["transparency_report"]
    assert report["scope"] == "both" and report["scope_decision"]["decided_by"] == "override"
    assert {i["item"]: i["status"] for i in report["items"]}["data_source"] == "missing"


def test_the_table_shows_the_scope_its_evidence_and_deferred_items() -> None:
    result = _warden("extract", str(TRANSPARENCY / "lumen_notes_product_notice.md"))
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Scope: Art. 13 (notice:" in out and "Art. 13 evidence" in out
    assert "Refers to Lumen Privacy Statement" in out
    assert "0 missing item(s), 15 deferred to a referenced document" in out


@pytest.mark.parametrize("args", [["--scope", "13"], ["--scope", "art13", "--article", "13"]])
def test_a_bad_scope_is_a_usage_error(args: list[str]) -> None:
    result = _warden("extract", str(TRANSPARENCY / "quayside_bakery_art13.md"), *args)
    assert result.returncode == 2
