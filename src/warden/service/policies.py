"""The policy in force, the versions runs are bound to, and the audited acts that change them.

A policy file on the command line (or $WARDEN_POLICY) is never a way to change what is in
force: it must be the policy in force (or, for a decision, the one the run is bound to), or
the command is refused with ``policy_mismatch``. The one exception is an empty state
directory, which the first writing command initialises with the file it was given (audited).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy, load_policy_text
from warden.service.errors import PolicyMismatch
from warden.service.principal import Principal
from warden.store import Store, audit, policies, retrying_conflicts

__all__ = ["PolicyBook"]

Change = Callable[[LoadedPolicy | None], tuple[LoadedPolicy, str | None]]
"""What an application puts in force, made of the policy in force (None before the first),
with the reason it is audited with."""


class PolicyBook:
    """Reads and changes the policies the store keeps; parsed versions are cached by hash."""

    def __init__(self, store: Store, presented: LoadedPolicy | None) -> None:
        self.store = store
        self.presented = presented
        self._by_sha: dict[str, LoadedPolicy] = {}
        self._current: tuple[int, LoadedPolicy] | None = None
        """The policy in force as last read, with the store's generation of the policy tables
        then: reused while it is unchanged (the file held all along, no policy written here)."""
        if presented is not None:
            self._by_sha[presented.sha256] = presented

    def _loaded(self, row: dict[str, Any]) -> LoadedPolicy:
        sha = row["sha256"]
        if sha not in self._by_sha:
            self._by_sha[sha] = load_policy_text(row["text"], Path(row["source"]))
        return self._by_sha[sha]

    def in_force(self, *, may_initialise: bool) -> LoadedPolicy:
        """The policy in force; the presented file must be it. An empty store is initialised
        with the presented file when `may_initialise` (a writing command)."""
        if not may_initialise and not self.store.exists():
            from warden.errors import WardenError

            raise WardenError(
                f"no Warden database at {self.store.where()}",
                fix="run `warden analyse` first, or set WARDEN_HOME to the state directory",
                code="no_store",
            )
        current = self._reused()
        if current is None:
            # two hosts initialising one empty Postgres ledger at once: the later one's write
            # loses the race, and its second reading finds the policy the first put in force
            current = retrying_conflicts(lambda: self._read(may_initialise=may_initialise))
        self.check_presented(current, "the policy in force")
        return current

    def _read(self, *, may_initialise: bool) -> LoadedPolicy:
        """The policy in force as the store has it now (remembered for :meth:`_reused`); an
        empty store is initialised with the presented file when `may_initialise`, and refused
        with a coded error otherwise."""
        generation = self.store.generation([policies.TABLES])
        with self.store.connect(read_only=not may_initialise) as con:
            current = self._in_force(con)
            if current is None:
                if self.presented is None:
                    raise UsageError(
                        "no governance policy is in force in this state directory",
                        fix="pass --policy FILE or set WARDEN_POLICY for the first run",
                        code="no_policy",
                    )
                if not may_initialise:
                    raise UsageError(
                        "no governance policy is in force in this state directory yet",
                        fix="start a run (`warden analyse`) or `warden policy apply FILE --as ADMIN` first",
                        code="no_policy",
                    )
                self._record(
                    con, self.presented, "bootstrap", "asserted", None, "initialised the state directory"
                )
                return self.presented
        self._keep(generation, current)
        return current

    def _reused(self) -> LoadedPolicy | None:
        """The policy in force as last read, if the policy tables cannot have changed since:
        the DuckDB file held open all along (no other process could write) and no policy
        written by this process. None otherwise (always on Postgres: other hosts write)."""
        cached = self._current
        if cached is None:
            return None
        generation = self.store.generation([policies.TABLES])
        return cached[1] if generation is not None and generation == cached[0] else None

    def _keep(self, generation: int | None, current: LoadedPolicy) -> None:
        """Remember `current`, read at `generation` (taken before the read: a write committed
        during it changes the generation, so the reading is not reused)."""
        self._current = None if generation is None else (generation, current)

    def _in_force(self, con: Any) -> LoadedPolicy | None:
        """The policy in force, None before the first; its text is read only when this book has
        not parsed that version yet (versions are immutable, kept by hash)."""
        sha = policies.sha256_in_force(con)
        if sha is None:
            return None
        if sha in self._by_sha:
            return self._by_sha[sha]
        row = policies.policy_in_force(con)
        return self._loaded(row) if row is not None else None

    def check_presented(self, expected: LoadedPolicy, what: str) -> None:
        """Refuse a presented policy file other than `expected`. A file that differs only in
        kill switches that `expected` has engaged is `expected`: an engaged switch (a version put
        in force by `warden policy kill-switch`) must not lock out the commands started with the
        file, among them the switch's release, and `expected` is what governs them. A file that
        engages a switch `expected` has not is refused: its author believes runs are stopped."""
        presented = self.presented
        if presented is None or presented.sha256 == expected.sha256:
            return
        if (
            presented.sha256_apart_from_switches != expected.sha256_apart_from_switches
            or not presented.engaged_switches <= expected.engaged_switches
        ):
            raise PolicyMismatch(
                f"{presented.path} (sha256 {presented.sha256[:12]}) is not {what} "
                f"(sha256 {expected.sha256[:12]}, from {expected.path})",
                fix="drop --policy / WARDEN_POLICY to use the policy in force; an administrator changes "
                "it with `warden policy apply FILE --as ADMIN`",
            )

    def bound(self, sha256: str | None) -> LoadedPolicy:
        """The policy version a run was requested under."""
        if sha256 and sha256 in self._by_sha:
            return self._by_sha[sha256]
        with self.store.connect(read_only=True) as con:
            row = policies.get_policy(con, sha256) if sha256 else None
        if row is None:  # a run from before runs were bound: the policy in force governs it
            return self.in_force(may_initialise=False)
        return self._loaded(row)

    def live(self) -> LoadedPolicy:
        """The policy in force now (for the kill switch of running trees, so no presented file
        is checked): read again unless the policy tables cannot have changed since the last
        reading (:meth:`_reused`)."""
        current = self._reused()
        return current if current is not None else self._read(may_initialise=False)

    def apply(self, principal: Principal, new: LoadedPolicy, reason: str | None) -> LoadedPolicy:
        """Put `new` in force: only an administrator of the policy in force may (or, in an
        empty state directory, one the new policy names). An explicit application of a whole
        file replaces whatever is in force when it commits (kill switches included: the file
        is what its author means to be in force); its audit event names the version it replaced."""
        return self._put(principal, lambda _current: (new, reason))

    def _put(self, principal: Principal, change: Change) -> LoadedPolicy:
        """Put in force what `change` makes of the policy in force, read as last committed under
        the exclusive policy lock (``policies.policy_in_force_locked``): applications at once go
        one after the other, each building on the one before, and a decision that must not be
        taken under an engaged switch waits for them. A transaction that loses a race to another
        change reads the policy in force again and decides again."""
        applied = retrying_conflicts(lambda: self._apply(principal, change))
        self._by_sha[applied.sha256] = applied
        return applied

    def _apply(self, principal: Principal, change: Change) -> LoadedPolicy:
        with self.store.connect() as con:
            row = policies.policy_in_force_locked(con, exclusive=True)
            current = self._loaded(row) if row is not None else None
            if current is not None:
                self._check_admin(principal, current)
            new, reason = change(current)
            if current is None:
                self._check_admin(principal, new)
            self._record(con, new, principal.user, principal.auth, current, reason)
        return new

    @staticmethod
    def _check_admin(principal: Principal, policy: LoadedPolicy) -> None:
        admins = policy.policy.admins
        if principal.user not in admins:
            raise UsageError(
                f"'{principal.user}' may not change the policy in force",
                fix="ask one of the policy's admins: " + (", ".join(admins) or "(the policy names none)"),
                code="forbidden",
            )

    def with_kill_switch(
        self, principal: Principal, tenant: str | None, engaged: bool, reason: str | None
    ) -> LoadedPolicy:
        """A copy of the policy in force with a kill switch set, put in force (audited). The copy
        is made of the version in force when the application commits (under its lock), so two
        switches set at once both hold: neither puts back the other's as it was before."""
        self.in_force(may_initialise=False)  # no store, no policy, a presented file not in force
        what = "engaged" if engaged else "released"

        def switched(current: LoadedPolicy | None) -> tuple[LoadedPolicy, str | None]:
            assert current is not None  # in force above: a policy is never taken out of force
            data = yaml.safe_load(current.text) if current.text else current.policy.model_dump(mode="json")
            if tenant is not None:
                current.tenant(tenant)  # a usage error naming the tenants when unknown
            target = data if tenant is None else data["tenants"][tenant]
            target["kill_switch"] = {"engaged": engaged, "reason": reason}
            changed = load_policy_text(yaml.safe_dump(data, sort_keys=False), current.path)
            return changed, f"kill switch {what} for {tenant or 'every tenant'}: {reason}"

        return self._put(principal, switched)

    def _record(
        self,
        con: Any,
        new: LoadedPolicy,
        by: str,
        auth: str,
        previous: LoadedPolicy | None,
        reason: str | None,
    ) -> None:
        policies.put_policy(
            con, sha256=new.sha256, text=new.text, base_dir=str(new.base_dir), source=str(new.path)
        )
        policies.apply_policy(con, sha256=new.sha256, applied_by=by, auth=auth, reason=reason)
        for tenant in sorted(set(new.policy.tenants) | set(previous.policy.tenants if previous else ())):
            audit.audit(
                con,
                run_id=None,
                root_run_id=None,
                tenant=tenant,
                actor=by,
                event="policy_applied",
                payload={
                    "policy_sha256": new.sha256,
                    "previous_sha256": previous.sha256 if previous else None,
                    "source": str(new.path),
                    "auth": auth,
                    "reason": reason,
                    "kill_switch": new.kill_switch_reason(tenant) if tenant in new.policy.tenants else None,
                },
            )
