"""Findings: upserted by (run, finding id), so a retried step never duplicates one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from warden.schemas.finding import Finding
from warden.store import known
from warden.store._util import insert_rows, now, rows, to_json
from warden.store.fingerprints import evidence_hash, fingerprint

__all__ = [
    "COMPARABLE_FIELDS",
    "FINDINGS_UPSERT",
    "FINDING_COLUMNS",
    "comparable_findings",
    "fill_identity",
    "finding_rows",
    "findings_of",
    "runs_holding_finding",
    "upsert_findings",
    "with_fingerprints",
]

FINDING_COLUMNS = {
    "run_id": "VARCHAR",
    "finding_id": "VARCHAR",
    "root_run_id": "VARCHAR",
    "step_id": "VARCHAR",
    "tenant": "VARCHAR",
    "analyser": "VARCHAR",
    "code": "VARCHAR",
    "title": "VARCHAR",
    "severity": "VARCHAR",
    "category": "VARCHAR",
    "message": "VARCHAR",
    "article": "VARCHAR",
    "data_category": "VARCHAR",
    "system_id": "VARCHAR",
    "evidence_json": "VARCHAR",
    "details_json": "VARCHAR",
    "created_at": "TIMESTAMP",
    "fingerprint": "VARCHAR",
    "evidence_hash": "VARCHAR",
}

_SEVERITY_ORDER = (
    "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "WHEN 'low' THEN 3 ELSE 4 END"
)


FINDINGS_UPSERT = """ON CONFLICT (run_id, finding_id) DO UPDATE SET message = excluded.message,
    severity = excluded.severity, evidence_json = excluded.evidence_json,
    details_json = excluded.details_json, fingerprint = excluded.fingerprint,
    evidence_hash = excluded.evidence_hash"""
"""A retried step's finding replaces the first attempt's (same run, same finding id)."""

_FINGERPRINT = list(FINDING_COLUMNS).index("fingerprint")


def finding_rows(
    findings: list[Finding], *, run_id: str, root_run_id: str, step_id: str, tenant: str, t: datetime
) -> list[list[Any]]:
    """One row per finding id (in :data:`FINDING_COLUMNS` order; an upsert may not touch a row
    twice), with its evidence hash; in the fingerprint's place the inputs it is computed from,
    which :func:`with_fingerprints` turns into it where the run's documents can be read."""
    unique = {f.id: f for f in findings}
    out: list[list[Any]] = []
    for f in unique.values():
        evidence = [e.model_dump(mode="json", exclude_none=True) for e in f.evidence]
        out.append(
            [
                run_id,
                f.id,
                root_run_id,
                step_id,
                tenant,
                f.analyser,
                f.code,
                f.title,
                f.severity,
                f.category,
                f.message,
                f.article,
                f.data_category,
                f.system_id,
                to_json(evidence),
                to_json(f.details),
                t,
                _fingerprint_inputs(evidence, f.details),
                evidence_hash(evidence, f.details),
            ]
        )
    return out


def _fingerprint_inputs(evidence: list[dict[str, Any]], details: dict[str, Any]) -> dict[str, Any]:
    """What :func:`fingerprint` reads of a finding's details and evidence (and nothing else, so a
    row waiting in a checkpoint stays small); the run's documents are added at write time."""
    return {
        "details": {k: details[k] for k in ("item", "recipient") if k in details},
        "evidence": [{k: e[k] for k in ("document_id", "location") if k in e} for e in evidence],
    }


def with_fingerprints(con: Any, found: list[list[Any]]) -> list[list[Any]]:
    """`found` (rows from :func:`finding_rows`) with each fingerprint computed: a finding that
    cites no document is about every document of its run tree (``run_documents`` of its root),
    read once per root."""
    pending = [row for row in found if isinstance(row[_FINGERPRINT], dict)]
    roots = sorted({row[2] for row in pending})
    linked: dict[str, list[str]] = {root: [] for root in roots}
    knows = known.of(con)  # a root this process created: its documents are known
    if knows is not None and all(knows.knows_run(root) for root in roots):
        linked = {root: sorted(knows.documents.get(root, ())) for root in roots}
    elif roots:
        for root, document_id in con.execute(
            "SELECT run_id, document_id FROM run_documents WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [roots],
        ).fetchall():
            linked[root].append(str(document_id))
    for row in pending:
        inputs = row[_FINGERPRINT]
        row[_FINGERPRINT] = fingerprint(
            tenant=row[4],
            analyser=row[5],
            code=row[6],
            system_id=row[13],
            data_category=row[12],
            details=inputs["details"],
            evidence=inputs["evidence"],
            run_documents=linked[row[2]],
        )
    return found


def upsert_findings(
    con: Any, findings: list[Finding], *, run_id: str, root_run_id: str, step_id: str, tenant: str
) -> int:
    if not findings:
        return 0
    found = finding_rows(
        findings, run_id=run_id, root_run_id=root_run_id, step_id=step_id, tenant=tenant, t=now()
    )
    insert_rows(con, "findings", FINDING_COLUMNS, with_fingerprints(con, found), FINDINGS_UPSERT)
    knows = known.of(con)
    if knows is not None:  # stored once this transaction commits (warden.store.known)
        knows.findings.update((row[0], row[1]) for row in found)
    return len(found)


def _decode(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in found:
        row["evidence"] = json.loads(row.pop("evidence_json"))
        row["details"] = json.loads(row.pop("details_json"))
        fill_identity(row)
    return found


def fill_identity(row: dict[str, Any], run_documents: list[str] | None = None) -> dict[str, Any]:
    """A decoded finding row (``evidence``, ``details``) with its fingerprint and evidence hash:
    rows written before the columns existed are computed here, as upserting would have."""
    if not row.get("fingerprint"):
        row["fingerprint"] = fingerprint(
            tenant=row["tenant"],
            analyser=row["analyser"],
            code=row["code"],
            system_id=row.get("system_id"),
            data_category=row.get("data_category"),
            details=row["details"],
            evidence=row["evidence"],
            run_documents=run_documents or [],
        )
    if not row.get("evidence_hash"):
        row["evidence_hash"] = evidence_hash(row["evidence"], row["details"])
    return row


def findings_of(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Findings of a run and of every run below it, most severe first."""
    sql = f"""
        WITH RECURSIVE subtree(run_id) AS (
            SELECT run_id FROM runs WHERE run_id = ?
            UNION ALL
            SELECT r.run_id FROM runs r JOIN subtree s ON r.parent_run_id = s.run_id
        )
        SELECT f.* FROM findings f JOIN subtree USING (run_id)
        ORDER BY {_SEVERITY_ORDER}, f.run_id, f.code, f.finding_id"""
    return _decode(rows(con.execute(sql, [run_id])))


COMPARABLE_FIELDS = (
    "step_id",
    "finding_id",
    "analyser",
    "code",
    "title",
    "severity",
    "category",
    "message",
    "article",
    "data_category",
    "system_id",
    "evidence_json",
    "details_json",
)


def comparable_findings(con: Any, root_run_id: str) -> str:
    """The tree's findings as canonical JSON, each under its run's path below the root: two
    trees (a run and its replay) compare byte for byte."""
    found = con.execute(
        f"""SELECT run_id, {", ".join(COMPARABLE_FIELDS)} FROM findings WHERE root_run_id = ?
            ORDER BY run_id, finding_id""",
        [root_run_id],
    ).fetchall()
    out = [
        {"run": row[0][len(root_run_id) :], **dict(zip(COMPARABLE_FIELDS, row[1:], strict=True))}
        for row in found
    ]
    return json.dumps(out, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def runs_holding_finding(con: Any, finding_id: str, tenants: list[str]) -> list[dict[str, Any]]:
    """(run_id, root_run_id, tenant) of the runs of `tenants` holding finding `finding_id`,
    newest run first (finding ids are deterministic: the same gap in every run of a notice)."""
    if not tenants:
        return []
    marks = ", ".join("?" for _ in tenants)
    return rows(
        con.execute(
            f"""SELECT f.run_id, f.root_run_id, f.tenant FROM findings f JOIN runs r USING (run_id)
                WHERE f.finding_id = ? AND f.tenant IN ({marks})
                ORDER BY r.created_at DESC, f.run_id DESC""",
            [finding_id, *tenants],
        )
    )
