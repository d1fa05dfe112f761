"""The approval decision: what a human (or a recorded auto-approval rule) said about a draft."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from warden.schemas._base import StrictModel
from warden.schemas.runbook import RunbookDefinition

__all__ = ["ApprovalDecision", "AuthMethod", "DecisionKind"]

AuthMethod = Literal["asserted", "password", "token", "oidc", "policy"]
"""How the person behind an action proved who they are.

- ``asserted``: named on the local command line (``--as`` / ``WARDEN_USER``): not proven.
- ``password``: signed in to the server with a password.
- ``token``: an API bearer token issued to the user.
- ``oidc``: signed in through the policy's OpenID Connect provider.
- ``policy``: no person; a written policy rule acted (auto-approval).
"""

DecisionKind = Literal["approve", "reject", "edit"]
"""What the approver decided.

- ``approve``: run the draft exactly as reviewed (its sha256 must match).
- ``reject``: never run it; ``comment`` carries the reason.
- ``edit``: run ``edited_runbook`` instead, after the guard validates it again.
"""


class ApprovalDecision(StrictModel):
    """Resume value of the approval interrupt, and a row of the approvals table."""

    decision: DecisionKind
    approver: str = Field(min_length=1, description="User id, e.g. dora@acme, or 'auto:<rule>'.")
    role: str = Field(min_length=1, description="The role the approver acts in.")
    runbook_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hash of the reviewed draft.")
    comment: str | None = Field(default=None, max_length=4000)
    edited_runbook: RunbookDefinition | None = None
    decided_at: datetime | None = None
    auto_rule: str | None = Field(default=None, description="Set when a policy rule approved it.")
    auth: AuthMethod = Field(default="asserted", description="How the approver was authenticated.")

    @model_validator(mode="after")
    def _decision_is_complete(self) -> ApprovalDecision:
        if self.decision == "reject" and not (self.comment and self.comment.strip()):
            raise ValueError("a rejection needs a comment giving the reason")
        if self.decision == "edit" and self.edited_runbook is None:
            raise ValueError("an 'edit' decision needs edited_runbook")
        if self.decision != "edit" and self.edited_runbook is not None:
            raise ValueError("edited_runbook is only allowed with decision 'edit'")
        return self
