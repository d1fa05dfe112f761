"""Read-only questions the investigator asks (``warden report``, ``warden audit``, notebooks).

One function per question, each taking an open connection (read-only is enough) and returning
rows as dicts, JSON columns left encoded: :mod:`warden.investigate` decodes and shapes them.
A question about a run tree covers `run_id` and every run below it (``parent_run_id`` links),
and answers ``[]`` for an unknown run: the caller checks the run exists first.
"""

from __future__ import annotations

from typing import Any

from warden.store._util import rows

__all__ = [
    "approval_requests_of_tree",
    "approvals_of_tree",
    "audit_events_of_tree",
    "costs_of_tree",
    "documents_of_run",
    "evidence_of_finding",
    "findings_of_tree",
    "latest_root_run",
    "passages_by_id",
    "runbook_versions",
    "runbooks_of_tree",
    "runs_of_tree",
    "schema_version",
    "step_outputs_of_tree",
    "steps_of_tree",
    "transparency_reports_of_tree",
    "versions_of_tree",
]

_SUBTREE = """
    WITH RECURSIVE subtree(run_id) AS (
        SELECT run_id FROM runs WHERE run_id = ?
        UNION ALL
        SELECT r.run_id FROM runs r JOIN subtree s ON r.parent_run_id = s.run_id
    )"""


def _of_tree(con: Any, run_id: str, select: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """`select` with a `subtree(run_id)` CTE holding `run_id` and every run below it."""
    return rows(con.execute(_SUBTREE + "\n" + select, [run_id, *(params or [])]))


def schema_version(con: Any) -> str | None:
    """The schema version the file was written at; raises (duckdb.CatalogException) when the
    file has no ``meta`` table, i.e. is not a Warden database."""
    found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return str(found[0]) if found else None


def latest_root_run(con: Any, tenant: str | None = None, status: str | None = None) -> str | None:
    """The most recently started root run (of `tenant`, with `status`, when given); None when
    there is none."""
    sql = "SELECT run_id FROM runs WHERE parent_run_id IS NULL"
    params: list[Any] = []
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    found = con.execute(sql + " ORDER BY created_at DESC, run_id DESC LIMIT 1", params).fetchone()
    return str(found[0]) if found else None


def runs_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Every run of the tree with the published number of the runbook version it ran
    (``approved_version``), by depth then start."""
    return _of_tree(
        con,
        run_id,
        """SELECT r.*, v.version_no AS approved_version FROM runs r JOIN subtree USING (run_id)
           LEFT JOIN runbook_versions v
               ON v.tenant = r.tenant AND v.runbook = r.runbook AND v.sha256 = r.runbook_sha256
           ORDER BY r.depth, r.created_at""",
    )


def runbooks_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """run_id and runbook of every run of the tree."""
    return _of_tree(con, run_id, "SELECT r.run_id, r.runbook FROM runs r JOIN subtree USING (run_id)")


def steps_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Every step of the tree with what it cost (``cost_usd``), in the order they started."""
    return _of_tree(
        con,
        run_id,
        """SELECT s.run_id, s.step_id, s.kind, s.analyser, s.system_id, s.status, s.attempts,
                  s.started_at, s.finished_at, s.duration_s, s.error, s.child_run_id,
                  coalesce((SELECT sum(c.amount_usd) FROM cost_ledger c
                            WHERE c.run_id = s.run_id AND c.step_id = s.step_id), 0) AS cost_usd
           FROM steps s JOIN subtree USING (run_id) ORDER BY s.started_at NULLS LAST, s.step_id""",
    )


def findings_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Every finding of the tree with its ``system``: its own system_id, else its step's (unordered)."""
    return _of_tree(
        con,
        run_id,
        """SELECT f.*, coalesce(f.system_id, s.system_id) AS system
           FROM findings f JOIN subtree USING (run_id)
           LEFT JOIN steps s ON s.run_id = f.run_id AND s.step_id = f.step_id""",
    )


def evidence_of_finding(con: Any, run_id: str, finding_id: str) -> list[dict[str, Any]]:
    """The ``evidence_json`` of finding `finding_id` of the tree ([] when the tree has no such finding)."""
    return _of_tree(
        con,
        run_id,
        "SELECT f.evidence_json FROM findings f JOIN subtree USING (run_id) WHERE f.finding_id = ?",
        [finding_id],
    )


def passages_by_id(con: Any, passage_ids: list[str], root_run_id: str) -> list[dict[str, Any]]:
    """Stored passages by id with their document's name (``document_name``) as the run tree of
    `root_run_id` named it, by document and index; only passages of the documents it reads."""
    if not passage_ids:
        return []
    marks = ", ".join("?" for _ in passage_ids)
    return rows(
        con.execute(
            f"""SELECT p.*, rd.name AS document_name FROM passages p
                JOIN run_documents rd ON rd.document_id = p.document_id AND rd.run_id = ?
                WHERE p.passage_id IN ({marks}) ORDER BY p.document_id, p.idx""",
            [root_run_id, *passage_ids],
        )
    )


def step_outputs_of_tree(con: Any, run_id: str, output_schema: str) -> list[dict[str, Any]]:
    """run_id, step_id and output_json of every completed step of the tree whose output has
    `output_schema` (e.g. ``labelled_passages``), oldest first."""
    return _of_tree(
        con,
        run_id,
        """SELECT s.run_id, s.step_id, s.output_json FROM steps s JOIN subtree USING (run_id)
           WHERE s.output_schema = ? AND s.status = 'completed'
           ORDER BY s.started_at, s.run_id, s.step_id""",
        [output_schema],
    )


def transparency_reports_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """run_id, step_id and output_json of every completed transparency-report step, oldest first."""
    return _of_tree(
        con,
        run_id,
        """SELECT s.run_id, s.step_id, s.output_json FROM steps s JOIN subtree USING (run_id)
           WHERE s.output_schema = 'transparency_report' AND s.status = 'completed'
           ORDER BY s.started_at""",
    )


def documents_of_run(con: Any, run_id: str) -> list[dict[str, Any]]:
    """The documents a (root) run analysed: id, name (the run's own), format, pages, passages;
    by name."""
    return rows(
        con.execute(
            """SELECT d.document_id, rd.name, d.format, d.pages, d.passages FROM documents d
               JOIN run_documents rd USING (document_id) WHERE rd.run_id = ? ORDER BY rd.name""",
            [run_id],
        )
    )


def approvals_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """The approval records of the tree, oldest decision first."""
    return _of_tree(
        con,
        run_id,
        "SELECT a.* FROM approvals a JOIN subtree USING (run_id) ORDER BY a.decided_at, a.approval_id",
    )


def approval_requests_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """The ``approval_requested`` and ``approval_refused`` events of the tree, in order."""
    return _of_tree(
        con,
        run_id,
        """SELECT e.run_id, e."at", e.actor, e.event, e.payload_json FROM audit_events e
           JOIN subtree USING (run_id)
           WHERE e.event IN ('approval_requested', 'approval_refused') ORDER BY e.seq""",
    )


def audit_events_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Every audit event of the tree, in the order they were written."""
    return _of_tree(
        con,
        run_id,
        """SELECT e.seq, e."at", e.run_id, e.root_run_id, e.tenant, e.actor, e.event, e.payload_json,
                  e.event_key, e.chain_no, e.prev_hash, e.hash
           FROM audit_events e JOIN subtree USING (run_id) ORDER BY e.seq""",
    )


def costs_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Every cost-ledger entry of the tree, oldest first."""
    return _of_tree(
        con,
        run_id,
        """SELECT c.run_id, c.step_id, c.kind, c.model, c.tokens_in, c.tokens_out, c.amount_usd, c."at"
           FROM cost_ledger c JOIN subtree USING (run_id) ORDER BY c."at", c.entry_id""",
    )


def runbook_versions(con: Any, tenant: str, runbook: str) -> list[dict[str, Any]]:
    """Every approved version of a tenant's runbook, oldest first."""
    return rows(
        con.execute(
            "SELECT * FROM runbook_versions WHERE tenant = ? AND runbook = ? ORDER BY version_no",
            [tenant, runbook],
        )
    )


def versions_of_tree(con: Any, run_id: str) -> list[dict[str, Any]]:
    """The runbook version each run of the tree executed, with who approved it, by depth then start."""
    return _of_tree(
        con,
        run_id,
        """SELECT r.run_id, r.depth, r.tenant, r.runbook, v.version_no AS version,
                  r.runbook_version AS declared_version, r.runbook_sha256 AS sha256,
                  v.approved_by, v.approved_at
           FROM runs r JOIN subtree USING (run_id)
           LEFT JOIN runbook_versions v
               ON v.tenant = r.tenant AND v.runbook = r.runbook AND v.sha256 = r.runbook_sha256
           ORDER BY r.depth, r.created_at""",
    )
