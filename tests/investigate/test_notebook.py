"""notebooks/investigate_findings.ipynb runs headless against a real run, and is committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from _acme_runs import REPO, Investigated
from nbclient import NotebookClient

NOTEBOOK = REPO / "notebooks" / "investigate_findings.ipynb"


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(
                data.get("text/plain", "") + data.get("text/html", "") + data.get("image/svg+xml", "")
            )
    return "\n".join(parts)


def test_the_notebook_is_committed_without_outputs_and_starts_with_a_parameter_cell() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    assert "WARDEN_HOME" in first.source and "RUN_ID = None" in first.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def _execute(home: Path, tmp_path: Path, **parameters: str) -> nbformat.NotebookNode:
    """Run the notebook with `parameters` injected after the parameter cell (papermill-style)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    injected = "\n".join(f"{k} = {v!r}" for k, v in {"WARDEN_HOME": str(home), **parameters}.items())
    nb.cells.insert(1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=180,
        startup_timeout=300,  # a kernel starts slowly on a loaded CI machine (default 60 s)
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    return nb


def test_the_notebook_investigates_the_latest_run_without_errors(
    investigated: Investigated, tmp_path: Path
) -> None:
    nb = _execute(investigated.home, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    text = _text(nb)
    assert f"run {investigated.second}: privacy-policy-review v2 for acme, completed" in text
    assert "privacy-policy-review v1 -> v2: added step(s) crm-scan, llm-spend" in text
    assert "[high] Missing: Right to withdraw consent" in text
    assert "Acme Ltd Privacy Notice › Our legal basis" in text
    assert "total $0.2500" in text
    assert text.count("<svg") >= 2, "the severity and timing charts"
    assert "dora@acme" in text


def test_the_notebook_takes_a_run_id_parameter(investigated: Investigated, tmp_path: Path) -> None:
    nb = _execute(investigated.home, tmp_path, RUN_ID=investigated.first)
    text = _text(nb)
    assert f"run {investigated.first}: privacy-policy-review v1 for acme, completed" in text
    assert "privacy-policy-review (nothing approved before) -> v1: first approved version: 4 step(s)" in text
    assert "total $0.0000" in text


def test_the_notebook_fails_with_a_clear_error_on_a_wrong_home(tmp_path: Path) -> None:
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="no Warden database at"):
        _execute(tmp_path / "nowhere", tmp_path)


def test_the_notebook_defaults_to_the_latest_completed_run_and_shows_every_quote(
    investigated: Investigated, tmp_path: Path
) -> None:
    import json
    import shutil

    from _wardencli import Warden

    home = tmp_path / "home"
    shutil.copytree(investigated.home, home)
    w = Warden(home=home, policy=investigated.policy)
    (waiting,) = w.analyse()  # newer than every completed run, and still waiting for approval
    assert waiting["status"] == "waiting_approval"
    nb = _execute(home, tmp_path)
    text = _text(nb)
    assert f"run {investigated.second}: privacy-policy-review v2 for acme, completed" in text
    rows = w.query("SELECT code, evidence_json FROM findings WHERE root_run_id = ?", investigated.second)
    quotes = [e["quote"] for r in rows for e in json.loads(r["evidence_json"]) if e.get("quote")]
    assert quotes
    for quote in quotes:
        assert quote in text
    for r in rows:
        assert r["code"] in text
    assert "\u201cNone\u201d" not in text
