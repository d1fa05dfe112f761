"""Triage: an analyst's verdict on a finding, kept by the finding's fingerprint so it carries
over to every later run of the tenant that finds the same thing.

One row per (tenant, fingerprint): the latest verdict wins (every verdict is also an audit
event, ``finding_triaged``, so the history is in the tenant's audit chain). A verdict is made
against the finding's evidence hash; a later finding with the same fingerprint and other
evidence is shown with the triage marked ``stale`` and is not suppressed.

A reason is free text people paste into (a customer's address, the password of the database
they fixed): credentials are masked when it is stored, as comments' are, and personal data is
redacted where it is read out (:func:`attach_triage`), so no report, listing or diff shows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from warden.redaction import redact_text
from warden.store._util import now, rows, scrub

__all__ = [
    "SUPPRESSING",
    "TRIAGE_STATES",
    "TriageState",
    "attach_triage",
    "record_triage",
    "triage_of",
    "triage_status",
]

TriageState = Literal["false_positive", "accepted_risk", "fixed"]
"""What an analyst says about a finding.

- ``false_positive``: the finding is wrong (the data is not what the detector thought, the
  notice does disclose it). Suppressed while the evidence stays the same.
- ``accepted_risk``: the finding is right and the organisation accepts it, with a reason.
  Suppressed while the evidence stays the same.
- ``fixed``: the cause has been removed (the notice revised, the column dropped). Suppressed
  in the run it was marked on and in runs before the mark; a run started after the mark that
  still finds it with the same evidence shows it as ``reopened``: the fix did not take.
"""

TRIAGE_STATES: tuple[str, ...] = get_args(TriageState)

SUPPRESSING = frozenset({"applies"})
"""Triage statuses that hide a finding (``--hide-suppressed``): only a verdict that still holds."""


def record_triage(
    con: Any,
    *,
    tenant: str,
    fingerprint: str,
    state: TriageState,
    reason: str,
    who: str,
    auth: str,
    evidence_hash: str,
    run_id: str,
    finding_id: str,
) -> dict[str, Any]:
    """Upsert the tenant's verdict on `fingerprint` (the reason's credentials masked); returns
    the row as stored."""
    at = now()
    con.execute(
        """INSERT INTO triage (tenant, fingerprint, state, reason, who, auth, "at", evidence_hash,
                               run_id, finding_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant, fingerprint) DO UPDATE SET state = excluded.state,
               reason = excluded.reason, who = excluded.who, auth = excluded.auth, "at" = excluded."at",
               evidence_hash = excluded.evidence_hash, run_id = excluded.run_id,
               finding_id = excluded.finding_id""",
        [tenant, fingerprint, state, scrub(reason), who, auth, at, evidence_hash, run_id, finding_id],
    )
    found = triage_of(con, tenant, [fingerprint])
    return found[fingerprint]


def triage_of(con: Any, tenant: str, fingerprints: list[str]) -> dict[str, dict[str, Any]]:
    """The tenant's verdicts on `fingerprints`, by fingerprint."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    found = rows(
        con.execute(
            f"""SELECT * FROM triage WHERE tenant = ? AND fingerprint IN ({marks})""", [tenant, *wanted]
        )
    )
    return {r["fingerprint"]: r for r in found}


def triage_status(verdict: dict[str, Any], evidence_hash: str, found_at: datetime | None) -> str:
    """``applies``, ``stale`` (the evidence differs from what the verdict was made against) or
    ``reopened`` (marked fixed, and found again with the same evidence after the mark).

    `found_at` is when the finding was made, not when its run was created: a check run is
    created when its parent drafts it and may scan days later, after the mark."""
    if verdict["evidence_hash"] != evidence_hash:
        return "stale"
    if verdict["state"] == "fixed" and found_at is not None and found_at > verdict["at"]:
        return "reopened"
    return "applies"


def attach_triage(con: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each decoded finding row (``tenant``, ``fingerprint``, ``evidence_hash``, ``created_at``)
    gains ``triage`` (None, or state, who, why, when, auth, status, the run and finding it was
    made on) and ``suppressed``. ``why`` is redacted: every caller shows it to the whole tenant."""

    by_tenant: dict[str, list[str]] = {}
    for f in found:
        by_tenant.setdefault(f["tenant"], []).append(f["fingerprint"])
    verdicts = {(t, fp): v for t, fps in by_tenant.items() for fp, v in triage_of(con, t, fps).items()}
    for f in found:
        verdict = verdicts.get((f["tenant"], f["fingerprint"]))
        if verdict is None:
            f["triage"], f["suppressed"] = None, False
            continue
        status = triage_status(verdict, f["evidence_hash"], f.get("created_at"))
        f["triage"] = {
            "state": verdict["state"],
            "who": verdict["who"],
            "why": redact_text(verdict["reason"]),
            "when": verdict["at"],
            "auth": verdict["auth"],
            "status": status,
            "run_id": verdict["run_id"],
            "finding_id": verdict["finding_id"],
        }
        f["suppressed"] = status in SUPPRESSING
    return found
