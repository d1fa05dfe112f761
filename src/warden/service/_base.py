"""What every group of the service's operations shares: the state it opens, who is asking, and
whether they may see a run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from warden.catalogue import Catalogue, default_catalogue
from warden.errors import UsageError
from warden.governance.policy import LoadedPolicy, load_policy
from warden.graph.context import RunContext, StepProgress
from warden.graph.engine import Engine
from warden.llm.config import LlmSettings
from warden.safeload import is_unicode
from warden.schemas.approval import AuthMethod
from warden.service.driving import DriverLeases
from warden.service.engines import engine_for
from warden.service.errors import (
    NoPrincipal,
    NotFound,
)
from warden.service.policies import PolicyBook
from warden.service.principal import Principal, principal_for
from warden.store import (
    Store,
    hosts,
    runs,
)

if TYPE_CHECKING:
    from warden.service.accounts import Accounts


__all__ = ["ServiceBase"]


class ServiceBase:
    """Warden's operations over one state directory.

    ``policy`` is the policy file the caller presented (``--policy`` / $WARDEN_POLICY), if any:
    it must be the policy in force; an empty state directory is initialised with it.
    """

    def __init__(
        self,
        home: str | Path,
        *,
        policy: str | Path | LoadedPolicy | None = None,
        catalogue: Catalogue | None = None,
        llm_settings: LlmSettings | None = None,
        chat_model: Any = None,
        replaying: bool = False,
        engine: Engine | None = None,
        ledger_url: str | None = None,
    ) -> None:
        """`ledger_url`: None follows $WARDEN_LEDGER_URL; "" is the state directory's DuckDB file
        whatever it says (a replay's scratch directory)."""
        self.home = Path(home)
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. $WARDEN_HOME names a file
            raise UsageError(
                f"cannot use {self.home} as the state directory: {exc.strerror or exc}",
                fix="set WARDEN_HOME to a directory Warden may create and write to",
                code="bad_home",
            ) from None
        presented = load_policy(policy) if isinstance(policy, str | Path) else policy
        self.store = Store(self.home / "warden.duckdb", url=ledger_url)
        self.policies = PolicyBook(self.store, presented)
        self.leases = DriverLeases(self.home, self.store)
        """Who drives which tree: a process holds a tree's lease while its graph runs."""
        self.engine: Engine = engine or engine_for(self.home, self.leases)
        self.catalogue = catalogue or default_catalogue()
        self.llm_settings = llm_settings or LlmSettings()
        self.chat_model = chat_model
        self.replaying = replaying
        self.on_step: Callable[[StepProgress], None] | None = None
        """Called as each step starts (an entry point's progress display)."""
        self._accounts: Accounts | None = None

    def long_lived(self, kind: str = "long-lived") -> Self:
        """Mark this service as a long-lived process's (the server, a worker, a batch of
        analyses): its DuckDB file lingers open between operations for
        :data:`~warden.store.connection.LONG_LIVED_LINGER_S` (an open and a close of the file
        cost ~50 ms of CPU per analysis), and is given up to another process that waits for it
        (see ``store/connection.py``). On a ledger several hosts share, the process beats for
        its host until :meth:`stop_heartbeat` or exit (service/liveness.py; `kind` is what the
        heartbeat row says it is). A one-shot command does not call it. Returns the service."""
        from warden.store.connection import LONG_LIVED_LINGER_S

        self.store.linger_s = LONG_LIVED_LINGER_S
        self.leases.beats.forever(kind)
        return self

    def stop_heartbeat(self) -> None:
        """Stop this process's heartbeat for the host (a long-lived process stopping cleanly):
        its row goes, so the host is silent at once unless another of its processes beats."""
        self.leases.beats.stop()

    @property
    def accounts(self) -> Accounts:
        """Local accounts and credentials (the server's identities; the operator manages them)."""
        if self._accounts is None:
            from warden.service.accounts import Accounts

            self._accounts = Accounts(self)
        return self._accounts

    # --- who is asking -----------------------------------------------------------------------

    def principal(
        self, user: str | None, auth: AuthMethod = "asserted", *, writing: bool = False
    ) -> Principal:
        """The principal for `user` under the policy in force; nobody and strangers get nothing."""
        if not user or not user.strip():
            raise NoPrincipal(
                "no identity given: Warden shows and does nothing for nobody",
                fix="pass --as USER (a user of the policy) or set WARDEN_USER",
            )
        policy = self.policies.in_force(may_initialise=writing)
        found = principal_for(policy, user, auth)
        if found is None:
            raise UsageError(
                f"'{user}' is not a user of any tenant in the policy in force",
                fix="pass --as with a user the policy names",
                code="unknown_user",
            )
        return found

    @contextmanager
    def _one_connection(self) -> Iterator[None]:
        """One DuckDB connection for a whole operation (opening one costs ~40 ms). Not with an
        engine that runs trees elsewhere (Temporal): an operation waiting for it (a tree to
        settle, a query a worker answers) would lock the very workers it waits for out of the
        file; each unit of work then opens and closes the file."""
        if not self.engine.in_process:
            yield
            return
        with self.store.hold():
            yield

    def _visible_run(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The run, if `p` may see it; otherwise exactly what a missing run answers (an id that
        is not UTF-8, which no ledger can look up, too)."""
        if not is_unicode(run_id):  # not UTF-8: no ledger can look it up
            raise NotFound(run_id)
        with self.store.connect(read_only=True) as con:
            row = runs.get_run(con, run_id)
        if row is None or not p.member_of(row["tenant"]):
            raise NotFound(run_id)
        return row

    def _host_elsewhere(self, root_id: str) -> dict[str, Any] | None:
        """The ledger's row naming the tree's host when that is another host (``host`` None: a
        tree recorded before hosts were named, not by this state directory); None when the
        tree is this host's: always on the DuckDB file (the ledger is this directory's own) and
        with an engine that keeps no checkpoints here (Temporal)."""
        if self.store.backend == "duckdb" or self.engine.recovers_itself:
            return None
        with self.store.connect(read_only=True) as con:
            row = hosts.host_of(con, root_id)
        if row is None:
            return None if self.leases.known(root_id) else {"host": None}
        return None if row["host"] == self.leases.host_id else row

    def _context(self, policy: LoadedPolicy) -> RunContext:
        return RunContext(
            store=self.store,
            policy=policy,
            catalogue=self.catalogue,
            llm_settings=self.llm_settings,
            chat_model=self.chat_model,
            replaying=self.replaying,
            live_policy=self.policies.live,
            on_step=self.on_step,
        )

    def visible_run(self, p: Principal, run_id: str) -> dict[str, Any]:
        """The run row, for entry points that read more of it (reports, exports)."""
        return self._visible_run(p, run_id)
