"""What the nodes need from the outside world, built once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.catalogue import Catalogue, default_catalogue
from warden.errors import LoadError, UsageError
from warden.governance.policy import LoadedPolicy, load_policy
from warden.llm.config import LlmSettings
from warden.store import Store

__all__ = ["HOME_ENV", "Runtime", "default_home"]

HOME_ENV = "WARDEN_HOME"


def default_home() -> Path:
    """$WARDEN_HOME, or ./.warden."""
    return Path(os.environ.get(HOME_ENV) or ".warden")


@dataclass
class Runtime:
    """State directory, store, policy and analysers of one process.

    ``llm_settings`` configures the model (``llm_model`` follows it when not given);
    ``chat_model`` overrides the model the settings would build: a fake in tests, the
    replaying model in ``warden replay`` (``replaying=True``: calls cost nothing).
    """

    home: Path
    policy: LoadedPolicy
    catalogue: Catalogue = field(default_factory=default_catalogue)
    llm_model: str | None = None
    llm_settings: LlmSettings | None = None
    chat_model: Any = None
    replaying: bool = False
    store: Store = field(init=False)
    _graphs: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _policy_bytes: bytes | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        if self.llm_settings is None:
            self.llm_settings = LlmSettings(model=self.llm_model)
        elif self.llm_model and self.llm_settings.model != self.llm_model:
            self.llm_settings = self.llm_settings.model_copy(update={"model": self.llm_model})
        if self.llm_model is None:
            self.llm_model = self.llm_settings.model
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. $WARDEN_HOME names a file
            raise UsageError(
                f"cannot use {self.home} as the state directory: {exc.strerror or exc}",
                fix="set WARDEN_HOME to a directory Warden may create and write to",
                code="bad_home",
            ) from None
        self.store = Store(self.home / "warden.duckdb")

    @property
    def checkpoint_path(self) -> Path:
        return self.home / "checkpoints.sqlite"

    def current_policy(self) -> LoadedPolicy:
        """The policy as it is on disk now: a kill switch set mid-run takes effect at the next step.

        Parsed again only when the file's bytes changed: nodes ask at every step, and parsing
        and validating the YAML cost ~20-80 ms a time.
        """
        try:
            raw = self.policy.path.read_bytes()
        except OSError:  # unreadable mid-run: keep the one the run started with
            return self.policy
        if raw == self._policy_bytes:
            return self.policy
        try:
            fresh = load_policy(self.policy.path)
        except (LoadError, OSError):  # mid-edit or unreadable: keep the one the run started with
            return self.policy
        self.policy, self._policy_bytes = fresh, raw
        return fresh

    def graph(self, nested: bool = False) -> Any:
        """The compiled graph: the root one owns the SQLite checkpointer, nested ones inherit it."""
        key = "nested" if nested else "root"
        if key not in self._graphs:
            from warden.graph.builder import build_graph

            if nested:
                self._graphs[key] = build_graph(self).compile()
            else:
                from warden.store.checkpoints import open_checkpointer

                saver = open_checkpointer(self.checkpoint_path)
                self._graphs[key] = build_graph(self).compile(checkpointer=saver)
        return self._graphs[key]
