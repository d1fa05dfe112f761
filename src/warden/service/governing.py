"""Changing the policy in force and its kill switches (administrators only)."""

from __future__ import annotations

from pathlib import Path

from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy, load_policy
from warden.service._base import ServiceBase
from warden.service.principal import Principal
from warden.store import runs

__all__ = ["PolicyOps"]


class PolicyOps(ServiceBase):
    def apply_policy(self, p: Principal, file: str | Path, reason: str | None = None) -> LoadedPolicy:
        """Put the policy in `file` in force (an administrator's audited act); a kill switch it
        engages stops the tenant's running trees as `kill_switch` does."""
        applied = self.policies.apply(p, load_policy(file), reason)
        self._stop_trees(applied, [t for t in applied.policy.tenants if applied.kill_switch_reason(t)])
        return applied

    def kill_switch(
        self, p: Principal, tenant: str | None, *, engage: bool, reason: str | None
    ) -> LoadedPolicy:
        """Engage or release a kill switch (an administrator's audited act); running trees of
        the tenant stop before their next step, whatever policy they are bound to."""
        if engage and not (reason and reason.strip()):
            raise UsageError("engaging the kill switch needs a reason", fix="pass --reason TEXT")
        if not p.admin:
            raise UsageError(
                f"'{p.user}' may not change the policy in force", fix="ask a policy admin", code="forbidden"
            )
        changed = self.policies.with_kill_switch(p, tenant, engage, reason)
        if engage:
            self._stop_trees(changed, [tenant] if tenant is not None else list(changed.policy.tenants))
        return changed

    def _stop_trees(self, policy: LoadedPolicy, tenants: list[str]) -> None:
        """Stop the live trees of `tenants` now, on an engine that runs them elsewhere (Temporal
        workers): waiting ones too, so no decision sent to them directly is taken meanwhile."""
        if not tenants:
            return
        with self.store.connect(read_only=True) as con:
            live = runs.live_roots(con, tenants)
        if live:
            self.engine.stop(live)

    def export_ledger(self, p: Principal, target: str | Path) -> dict[str, int]:
        """Snapshot the whole ledger (every tenant's records) into a new DuckDB file for
        investigators: an administrator's act, like changing the policy, so it is audited
        (``ledger_exported``: who, where) on every chain whose records leave."""
        from warden.store.export import export_to_duckdb, refuse_existing

        if not p.admin:
            raise UsageError(
                f"'{p.user}' may not export the ledger (it holds every tenant's records)",
                fix="ask a policy admin",
                code="forbidden",
            )
        # recorded before the copy, so the snapshot carries the record of its own export and
        # holds exactly the ledger's rows; a copy that then fails is recorded as failed
        refuse_existing(Path(target))
        where = str(Path(target).absolute())
        self._audit_export(p, "ledger_exported", {"to": where})
        try:
            return export_to_duckdb(self.store, target)
        except UsageError as exc:
            self._audit_export(p, "ledger_export_failed", {"to": where, "code": exc.code})
            raise

    def _audit_export(self, p: Principal, event: str, payload: dict[str, str]) -> None:
        """`event` on every chain of the ledger (the `-` chain when there is none): every
        tenant's records leave with the snapshot."""
        from warden.store.audit import NO_TENANT, audit, chain_tenants

        with self.store.connect() as con:
            for tenant in chain_tenants(con) or [NO_TENANT]:
                audit(
                    con,
                    run_id=None,
                    root_run_id=None,
                    tenant=tenant,
                    actor=p.user,
                    event=event,
                    payload=payload,
                )
