"""Findings: upserted by (run, finding id), so a retried step never duplicates one."""

from __future__ import annotations

import json
from typing import Any

from warden.schemas.finding import Finding
from warden.store._util import insert_rows, now, rows, to_json

__all__ = ["COMPARABLE_FIELDS", "FINDING_COLUMNS", "comparable_findings", "findings_of", "upsert_findings"]

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
}

_SEVERITY_ORDER = (
    "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "WHEN 'low' THEN 3 ELSE 4 END"
)


def upsert_findings(
    con: Any, findings: list[Finding], *, run_id: str, root_run_id: str, step_id: str, tenant: str
) -> int:
    if not findings:
        return 0
    t = now()
    unique = {f.id: f for f in findings}  # one row per id: an upsert may not touch a row twice
    insert_rows(
        con,
        "findings",
        FINDING_COLUMNS,
        [
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
                to_json([e.model_dump(mode="json", exclude_none=True) for e in f.evidence]),
                to_json(f.details),
                t,
            ]
            for f in unique.values()
        ],
        """ON CONFLICT (run_id, finding_id) DO UPDATE SET message = excluded.message,
               severity = excluded.severity, evidence_json = excluded.evidence_json,
               details_json = excluded.details_json""",
    )
    return len(unique)


def _decode(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in found:
        row["evidence"] = json.loads(row.pop("evidence_json"))
        row["details"] = json.loads(row.pop("details_json"))
    return found


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
