"""Triage that sticks: a verdict on a finding by its fingerprint, and the diff of two runs."""

from __future__ import annotations

from typing import Any

from warden.errors import UsageError
from warden.safeload import is_unicode
from warden.service._base import ServiceBase
from warden.service.deciding import decision_fix
from warden.service.errors import (
    RunRefused,
    UnknownFinding,
)
from warden.service.principal import Principal
from warden.store import (
    audit,
    findings,
    retrying_conflicts,
    runs,
    triage,
)

__all__ = ["TriageOps"]


class TriageOps(ServiceBase):
    def triage(
        self,
        p: Principal,
        finding_id: str,
        mark: str,
        reason: str,
        *,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Record `p`'s verdict (false_positive, accepted_risk, fixed) on a finding, by its
        fingerprint, so later runs of the tenant carry it; audited as ``finding_triaged``.

        The finding is looked up in `run_id`'s tree, else in the newest run of `p`'s tenants
        holding that id (ids are deterministic: the same gap has the same id in every run). Who
        may triage is the tenant's ``approval.triage_roles`` (default: its approval roles) in the
        policy the run is bound to and in the policy in force. A finding `p` may not see answers as
        one that does not exist.
        """
        if mark not in triage.TRIAGE_STATES:
            raise UsageError(
                f"unknown triage mark '{mark}'", fix="use one of: " + ", ".join(triage.TRIAGE_STATES)
            )
        if not reason or not reason.strip():
            raise UsageError("a triage needs a reason", fix="pass --reason TEXT")
        if not is_unicode(reason):
            raise UsageError("the reason is not UTF-8 text", fix="write the reason as UTF-8", code="not_utf8")
        if not is_unicode(finding_id):
            raise UnknownFinding(finding_id)
        with self._one_connection():
            if run_id is not None:
                row = self._visible_run(p, run_id)
                scope = run_id
            else:
                with self.store.connect(read_only=True) as con:
                    holding = findings.runs_holding_finding(con, finding_id, p.tenants)
                if not holding:
                    raise UnknownFinding(finding_id)
                scope = holding[0]["run_id"]
                row = self._visible_run(p, scope)
            with self.store.connect(read_only=True) as con:
                found = [f for f in findings.findings_of(con, scope) if f["finding_id"] == finding_id]
                root = runs.get_run(con, row["root_run_id"])
            if not found:
                raise UnknownFinding(finding_id)
            finding = found[0]
            tenant = finding["tenant"]
            bound = self.policies.bound((root or row).get("policy_sha256"))
            # a verdict carries over to the tenant's later runs, so the right must hold under the
            # policy in force too: a role revoked since the run was requested no longer triages
            current = self.policies.in_force(may_initialise=False)
            for policy in (bound,) if current.sha256 == bound.sha256 else (bound, current):
                if tenant not in policy.policy.tenants:
                    raise RunRefused(
                        f"'{p.user}' may not triage findings of tenant '{tenant}'",
                        fix="the policy in force has no such tenant",
                        code="forbidden",
                    )
                allowed = policy.triage_roles(tenant)
                if not set(allowed) & set(policy.roles_of(tenant, p.user)):
                    raise RunRefused(
                        f"'{p.user}' may not triage findings of tenant '{tenant}'",
                        fix="ask a holder of role " + " or ".join(allowed),
                        code="forbidden",
                    )
                if policy.tenant(tenant).approval.require_authenticated and not p.authenticated:
                    raise RunRefused(
                        "the policy lets only authenticated users triage findings",
                        fix=decision_fix("authentication_required", finding["run_id"]),
                        code="authentication_required",
                    )

            def record() -> tuple[dict[str, Any], dict[str, Any]]:
                """One transaction; run again when another host's verdict on the same fingerprint
                committed after it began (so `previous` names that verdict)."""
                with self.store.connect() as con:
                    before = triage.triage_of(con, tenant, [finding["fingerprint"]]).get(
                        finding["fingerprint"]
                    )
                    verdict = triage.record_triage(
                        con,
                        tenant=tenant,
                        fingerprint=finding["fingerprint"],
                        state=mark,  # type: ignore[arg-type]
                        reason=reason.strip(),
                        who=p.user,
                        auth=p.auth,
                        evidence_hash=finding["evidence_hash"],
                        run_id=finding["run_id"],
                        finding_id=finding_id,
                    )
                    audit.audit(
                        con,
                        run_id=finding["run_id"],
                        root_run_id=finding["root_run_id"],
                        tenant=tenant,
                        actor=p.user,
                        event="finding_triaged",
                        payload={
                            "finding_id": finding_id,
                            "fingerprint": finding["fingerprint"],
                            "code": finding["code"],
                            "mark": mark,
                            "reason": reason.strip(),
                            "auth": p.auth,
                            "evidence_hash": finding["evidence_hash"],
                            "previous": before["state"] if before else None,
                            "policy_sha256": bound.sha256,
                        },
                    )
                    shown = triage.attach_triage(con, [finding])[0]
                return shown, verdict

            shown, verdict = retrying_conflicts(record)
        # the reason as every reader sees it (personal data redacted), not as it is stored
        return {**shown, "recorded": {**verdict, "reason": shown["triage"]["why"]}}

    def diff(self, p: Principal, run_a: str, run_b: str) -> dict[str, Any]:
        """Findings of run tree B against run tree A, by fingerprint: ``new`` (only in B),
        ``resolved`` (only in A), ``unchanged`` (in both; ``evidence_changed`` when the evidence
        differs) and ``suppressed`` (in B, hidden by a triage that still applies). Both runs must
        be visible to `p`; either one unknown answers like a run that does not exist."""
        with self._one_connection():
            row_a = self._visible_run(p, run_a)
            row_b = self._visible_run(p, run_b)
            if row_a["tenant"] != row_b["tenant"]:
                raise UsageError(
                    f"runs '{run_a}' and '{run_b}' belong to different tenants",
                    fix="compare two runs of one tenant",
                    code="different_tenants",
                )
            with self.store.connect(read_only=True) as con:
                before = triage.attach_triage(con, findings.findings_of(con, run_a))
                after = triage.attach_triage(con, findings.findings_of(con, run_b))
        earlier = {f["fingerprint"]: f for f in before}
        later = {f["fingerprint"]: f for f in after}
        out: dict[str, Any] = {
            "run_a": run_a,
            "run_b": run_b,
            "tenant": row_b["tenant"],
            "new": [],
            "resolved": [],
            "unchanged": [],
            "suppressed": [],
        }
        for fp, f in later.items():
            entry = _diff_entry(f)
            if fp in earlier:
                entry["evidence_changed"] = earlier[fp]["evidence_hash"] != f["evidence_hash"]
            if f["suppressed"]:
                out["suppressed"].append(entry)
            elif fp in earlier:
                out["unchanged"].append(entry)
            else:
                out["new"].append(entry)
        out["resolved"] = [_diff_entry(f) for fp, f in earlier.items() if fp not in later]
        return out


def _diff_entry(f: dict[str, Any]) -> dict[str, Any]:
    keys = ("fingerprint", "finding_id", "run_id", "severity", "code", "title", "system_id", "data_category")
    return {**{k: f.get(k) for k in keys}, "triage": f.get("triage")}
