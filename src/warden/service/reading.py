"""What investigators and pages read: runs, trees, findings, passages, reports, the audit
export and its chain's verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warden.errors import UsageError
from warden.schemas.durations import parse_duration
from warden.schemas.status import RUN_STATUSES
from warden.service._base import ServiceBase
from warden.service.principal import Principal
from warden.store import (
    documents,
    findings,
    runs,
    steps,
    triage,
)

__all__ = ["RUN_SUMMARY_FIELDS", "SEVERITIES", "ReadingOps", "parse_since", "since_utc"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
RUN_SUMMARY_FIELDS = (
    "run_id",
    "status",
    "tenant",
    "depth",
    "parent_run_id",
    "root_run_id",
    "runbook",
    "runbook_version",
    "runbook_sha256",
    "document",
    "cost_usd",
    "duration_s",
    "requester",
    "created_at",
    "finished_at",
    "status_reason",
)
"""The fields a run listing shows (`warden runs --json` and the API's run summaries)."""
MAX_COMMENT_CHARS = 10_000


_SINCE_FIX = (
    "use a date between 0001-01-01 and 9999-12-31 UTC (e.g. 2026-12-01, 2026-12-01T09:00) "
    "or an age (30m, 12h, 7d)"
)


def since_utc(value: datetime | None, *, name: str = "since") -> datetime | None:
    """A `since` bound as naive UTC (the store's convention): aware values are converted, and a
    value the conversion takes off the calendar (0001-01-01T00:00+01:00) is a usage error."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise UsageError(
            f"{name} {value.isoformat()!r}: outside the calendar in UTC", fix=_SINCE_FIX
        ) from None


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`since` as typed (the CLI's ``--since``): an ISO date or time, or an age such as 30m, 12h,
    7d, as naive UTC. Anything else, or an age reaching before the calendar, is a usage error."""
    age = parse_duration(text, units="mhd")
    if age is not None:
        start = now if now is not None else datetime.now(UTC).replace(tzinfo=None)
        try:
            return start - timedelta(seconds=age)
        except (OverflowError, ValueError):
            raise UsageError(f"--since {text!r}: an age longer than the calendar", fix=_SINCE_FIX) from None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r}: not a date or an age", fix=_SINCE_FIX) from None
    converted = since_utc(parsed, name="--since")
    assert converted is not None
    return converted


class ReadingOps(ServiceBase):
    def runs(
        self,
        p: Principal,
        *,
        status: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs of the principal's tenants, newest first."""
        if status is not None and status not in RUN_STATUSES:
            raise UsageError(f"unknown status '{status}'", fix="use one of: " + ", ".join(RUN_STATUSES))
        if limit is not None and limit < 1:
            raise UsageError(f"--limit {limit}: must be at least 1", fix="pass a positive number")
        since = since_utc(since)
        with self.store.connect(read_only=True) as con:
            return runs.visible_runs(con, tenants=p.tenants, status=status, since=since, limit=limit)

    def tree(self, p: Principal, run_id: str) -> list[dict[str, Any]]:
        """Every run of the tree `run_id` belongs to, parents first, each with its steps."""
        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                members = runs.tree(con, row["root_run_id"])
                for m in members:
                    m["steps"] = steps.steps_of(con, m["run_id"])
        return members

    def findings(
        self,
        p: Principal,
        run_id: str,
        *,
        min_severity: str = "info",
        category: str | None = None,
        hide_suppressed: bool = False,
    ) -> list[dict[str, Any]]:
        """Findings of a run and the runs below it, most severe first, each with its fingerprint
        and the tenant's triage of it (``triage``: None or state, who, why, when, status);
        `hide_suppressed` leaves out those a triage that still applies suppresses."""
        if min_severity not in SEVERITIES:
            raise UsageError(f"unknown severity '{min_severity}'", fix=f"use one of: {', '.join(SEVERITIES)}")
        with self._one_connection():
            self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                rows = triage.attach_triage(con, findings.findings_of(con, run_id))
        floor = SEVERITIES.index(min_severity)
        return [
            f
            for f in rows
            if SEVERITIES.index(f["severity"]) >= floor
            and (category is None or f["category"] == category)
            and not (hide_suppressed and f["suppressed"])
        ]

    def ropa(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The record of processing activities (Art. 30(1)) the run tree's notice and scans
        support, per system (the inventory of the policy the run is bound to) and purpose; each
        field cites its passages or findings, and a field neither supplies is a gap."""
        from warden.investigate.ropa import SystemInfo, build_ropa
        from warden.investigate.source import Source

        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                root = runs.get_run(con, row["root_run_id"])
            bound = self.policies.bound((root or row).get("policy_sha256"))
            systems = [
                SystemInfo(s.id, s.type, s.description, s.owner, tuple(s.tags))
                for s in bound.tenant(row["tenant"]).systems
            ]
        # the investigation helpers open their own read-only connection: after ours is closed
        return build_ropa(Source(self.store.path, store=self.store), run_id, systems)

    def verify_audit(self, p: Principal, run_id: str | None = None, *, head: str | None = None) -> list[Any]:
        """Recompute the audit hash chain of the run's tenant (without a run: of every tenant of
        `p`; a policy admin's: every chain on the ledger, the no-tenant chain of refused
        sign-ins too); each report names the first edited, deleted, inserted or reordered event.
        Nothing to verify is a usage error, never a silent pass."""
        from warden.store.audit import chain_tenants, verify_chain

        # read-only opens only: a read-write open would run the schema's DDL, which a tampered
        # ledger (a unique index dropped, duplicates inserted) refuses before anything is checked
        if run_id is not None:
            row = self._visible_run(p, run_id)
            chains: list[tuple[str, str | None]] = [(row["tenant"], row["root_run_id"])]
        else:
            mine = set(p.tenants)
            if p.admin:
                with self.store.connect(read_only=True) as con:
                    mine |= set(chain_tenants(con))
            chains = [(tenant, None) for tenant in sorted(mine)]
        if not chains:
            raise UsageError(
                f"'{p.user}' has no audit chain to verify: no tenant of theirs, and not a policy admin",
                fix="verify as a user of a tenant, or as a policy admin (who verifies every chain)",
                code="nothing_to_verify",
            )
        if head is not None and len(chains) != 1:
            raise UsageError("--head anchors one tenant's chain", fix="pass a RUN of that tenant")
        with self.store.connect(read_only=True) as con:
            return [verify_chain(con, tenant, root_run_id=root, anchor=head) for tenant, root in chains]

    def passages(self, p: Principal, run_id: str, passage_ids: list[str]) -> list[dict[str, Any]]:
        """Passages (``<document prefix>#<index>``) of the documents the run's tree reads, for the
        citations a reviewer opens; ids of any other document are left out, as missing ones are."""
        wanted = list(dict.fromkeys(passage_ids))[:1000]
        with self._one_connection():
            row = self._visible_run(p, run_id)
            with self.store.connect(read_only=True) as con:
                allowed = set(documents.document_ids_of_run(con, row["root_run_id"]))
                found = documents.passages_of(con, wanted)
        return [r for r in found if r["document_id"] in allowed]

    def report(self, p: Principal, run_id: str, fmt: str = "html") -> str:
        """`warden report`'s document of the run's tree (html, md or json), read through this
        service's store (a threaded server cannot open a second, read-only instance)."""
        from warden.investigate import Source, build_report, render

        if fmt not in ("html", "md", "json"):
            raise UsageError(f"unknown report format '{fmt}'", fix="use one of: html, md, json")
        with self._one_connection():
            self._visible_run(p, run_id)
            return render(build_report(Source(self.store.path, store=self.store), run_id), fmt)  # type: ignore[arg-type]

    def audit_export(self, p: Principal, run_id: str, fmt: str = "jsonl") -> str:
        """`warden audit RUN`'s export of the run tree's events (jsonl or csv), payloads redacted."""
        import io

        from warden.investigate import Source, export_records, write_csv, write_jsonl

        if fmt not in ("jsonl", "csv"):
            raise UsageError(f"unknown audit format '{fmt}'", fix="use one of: jsonl, csv")
        with self._one_connection():
            self._visible_run(p, run_id)
            records = export_records(Source(self.store.path, store=self.store), run_id)
        buffer = io.StringIO()
        (write_jsonl if fmt == "jsonl" else write_csv)(records, buffer)
        return buffer.getvalue()
