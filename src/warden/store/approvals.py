"""Approvals and the runbook versions they publish: the record an auditor asks for."""

from __future__ import annotations

import json
from typing import Any

from warden.store import known
from warden.store._util import now, readers_under_lock, rows, to_json

__all__ = [
    "approvals_of_tree",
    "last_approved",
    "latest_decision",
    "publish_version",
    "record_approval",
    "version_definition",
    "versions_of",
]


def record_approval(con: Any, **row: Any) -> None:
    """Insert once per approval id (deterministic: run + runbook hash + decision). A run this
    process created, on a held DuckDB file, whose approvals it knows (warden.store.known) takes
    a plain ``INSERT`` when the id is new: ``ON CONFLICT DO NOTHING`` costs DuckDB ~0.4 ms of
    the calling thread and ~1.4 ms of its own more per row."""
    row = dict(row)
    knows = known.of(con)
    key = (row["run_id"], row["approval_id"])
    new = knows is not None and knows.knows_run(key[0]) and key not in knows.approvals
    row["validation_json"] = to_json(row.pop("validation"))
    model = row.pop("model", None)
    row["model_json"] = to_json(model) if model is not None else None
    row.setdefault("decided_at", now())
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    conflict = "" if new else " ON CONFLICT DO NOTHING"
    con.execute(f"INSERT INTO approvals ({cols}) VALUES ({marks}){conflict}", list(row.values()))
    if knows is not None:
        knows.approvals.add(key)


def approvals_of_tree(con: Any, root_run_id: str) -> list[dict[str, Any]]:
    return rows(
        con.execute("SELECT * FROM approvals WHERE root_run_id = ? ORDER BY decided_at", [root_run_id])
    )


def publish_version(
    con: Any,
    *,
    tenant: str,
    runbook: str,
    sha256: str,
    declared_version: int,
    definition: Any,
    run_id: str,
    approved_by: str,
    known_version: int | None = None,
) -> int:
    """Record an approved runbook version; returns its version number within (tenant, runbook).
    `known_version`: the number a read of this very version (tenant, runbook, hash) found
    earlier, returned as it is with no read: a version's row is never updated or deleted, and
    its key is unique, so the read here would find the same."""
    if known_version is not None:
        return known_version
    # two approvals of the runbook at once (two workers) must not take one number, nor both
    # record the same content: the latest committed versions are read under the runbook's lock
    number = 1
    for reader in readers_under_lock(con, f"runbook_versions:{tenant}:{runbook}"):
        existing = reader.execute(
            "SELECT version_no FROM runbook_versions WHERE tenant = ? AND runbook = ? AND sha256 = ?",
            [tenant, runbook, sha256],
        ).fetchone()
        if existing:
            return int(existing[0])
        number = max(
            number,
            reader.execute(
                """SELECT coalesce(max(version_no), 0) + 1 FROM runbook_versions
                   WHERE tenant = ? AND runbook = ?""",
                [tenant, runbook],
            ).fetchone()[0],
        )
    con.execute(
        """INSERT INTO runbook_versions (tenant, runbook, sha256, version_no, declared_version,
               definition_json, first_run_id, approved_at, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [tenant, runbook, sha256, number, declared_version, to_json(definition), run_id, now(), approved_by],
    )
    return int(number)


def last_approved(con: Any, tenant: str, runbook: str) -> dict[str, Any] | None:
    found = rows(
        con.execute(
            """SELECT * FROM runbook_versions WHERE tenant = ? AND runbook = ?
           ORDER BY version_no DESC LIMIT 1""",
            [tenant, runbook],
        )
    )
    if not found:
        return None
    found[0]["definition"] = json.loads(found[0]["definition_json"])
    return found[0]


def version_definition(con: Any, tenant: str, runbook: str, sha256: str) -> dict[str, Any] | None:
    """A published runbook version's definition, by content hash."""
    found = con.execute(
        "SELECT definition_json FROM runbook_versions WHERE tenant = ? AND runbook = ? AND sha256 = ?",
        [tenant, runbook, sha256],
    ).fetchone()
    return json.loads(found[0]) if found else None


def latest_decision(con: Any, run_id: str) -> dict[str, Any] | None:
    """The last decision recorded for a run, with the edited definition when it was an edit."""
    found = rows(
        con.execute(
            """SELECT a.*, v.definition_json FROM approvals a LEFT JOIN runbook_versions v
                 ON v.tenant = a.tenant AND v.runbook = a.runbook AND v.sha256 = a.runbook_sha256
               WHERE a.run_id = ? ORDER BY a.decided_at DESC LIMIT 1""",
            [run_id],
        )
    )
    if not found:
        return None
    row = found[0]
    definition = row.pop("definition_json")
    row["definition"] = json.loads(definition) if definition else None
    return row


def versions_of(con: Any, tenant: str, runbook: str) -> list[dict[str, Any]]:
    """Every approved version of a tenant's runbook, newest first, with its definition and the
    decision that published it (approve, or edit when an approver changed the draft)."""
    found = rows(
        con.execute(
            """SELECT v.*, (SELECT a.decision FROM approvals a
                              WHERE a.tenant = v.tenant AND a.runbook = v.runbook
                                AND a.runbook_sha256 = v.sha256 AND a.decision <> 'reject'
                              ORDER BY a.decided_at LIMIT 1) AS decision
               FROM runbook_versions v WHERE v.tenant = ? AND v.runbook = ?
               ORDER BY v.version_no DESC""",
            [tenant, runbook],
        )
    )
    for row in found:
        row["definition"] = json.loads(row.pop("definition_json"))
    return found
