"""A private copy of the Acme organisation (notice, systems, policy) under a temp folder, and
completed run trees over it driven in-process through the service (no CLI processes)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from warden.service import Service

REPO = Path(__file__).resolve().parents[2]
ACME = REPO / "fixtures" / "acme"
GLOBEX = REPO / "fixtures" / "globex"


@dataclass
class Acme:
    """A state directory over a copy of Acme whose systems a test may change between runs."""

    base: Path
    policy: Path
    notice: Path
    systems: Path
    home: Path

    def service(self) -> Service:
        return Service(self.home, policy=self.policy)

    def completed(self, notice: Path | None = None) -> str:
        """Analyse the notice as ana@acme, approve root and child as dora@acme: the root run id."""
        service = self.service()
        ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
        started = service.start(ana, notice or self.notice, tenant="acme")
        root = started.root_run_id
        service.decide(dora, root, "approve", role="dpo")
        outcome = service.decide(dora, f"{root}.checks", "approve", role="dpo")
        assert outcome.status == "completed", outcome
        return root


def acme_copy(base: Path, **approval: object) -> Acme:
    """Acme's notice, systems and policy copied under `base` (approval settings overridden)."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ACME / "systems", base / "systems")
    shutil.copy(ACME / "notice.md", base / "notice.md")
    data = yaml.safe_load((ACME / "policy.yaml").read_text())
    globex = data["tenants"]["globex"]
    globex["document_roots"] = [str(GLOBEX)]
    globex["allowed_roots"] = [str(GLOBEX / "systems")]
    for system in globex["systems"]:
        system["location"] = str(GLOBEX / "systems" / Path(system["location"]).name)
    data["tenants"]["acme"]["approval"].update(approval)
    policy = base / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    return Acme(base, policy, base / "notice.md", base / "systems", base / "home")
