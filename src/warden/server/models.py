"""The API's request and response shapes (they make the OpenAPI document at /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warden.service.reading import RUN_SUMMARY_FIELDS

__all__ = [
    "ApprovalView",
    "CancelRequest",
    "DecisionOut",
    "DecisionRequest",
    "Health",
    "Me",
    "RunDetail",
    "RunStarted",
    "RunSummary",
    "TokenOut",
    "TokenRequest",
    "TreeNode",
]

RUN_KEYS = RUN_SUMMARY_FIELDS
"""The fields of `warden runs --json`, which the API's run summaries carry too."""


class TokenRequest(BaseModel):
    user: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    token: str
    token_id: str
    expires_at: datetime | None


class Me(BaseModel):
    user: str
    auth: str
    admin: bool
    tenants: dict[str, list[str]]


class RunStarted(BaseModel):
    run_id: str
    status: str


class RunSummary(BaseModel):
    run_id: str
    status: str
    tenant: str
    depth: int
    parent_run_id: str | None = None
    root_run_id: str
    runbook: str | None = None
    runbook_version: int | None = None
    runbook_sha256: str | None = None
    document: str | None = None
    cost_usd: float
    duration_s: float
    requester: str
    created_at: datetime
    finished_at: datetime | None = None
    status_reason: str | None = None


class ApprovalView(BaseModel):
    """What an approver reviews: the draft, the guard's report, the estimate and the diff."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    required_role: str
    runbook: dict[str, Any]
    runbook_sha256: str
    report: dict[str, Any]
    cost_estimate_usd: float | None = None
    diff: str | None = None
    change_summary: str | None = None
    documents: list[dict[str, Any]] = []


class RunDetail(BaseModel):
    run: RunSummary
    approval: ApprovalView | None = None


class DecisionRequest(BaseModel):
    decision: Literal["approve", "reject", "edit"]
    role: str = Field(min_length=1, max_length=200)
    comment: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=4000)
    runbook: str | dict[str, Any] | None = Field(
        default=None, description="For `edit`: the edited runbook, as YAML text or an object."
    )
    runbook_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The sha256 of the draft you reviewed (64 lowercase hex digits); refused if it "
        "changed since.",
    )


class DecisionOut(BaseModel):
    run_id: str
    decision: str
    status: str
    """The run's status now: `running` while the decision is carried out in the background."""


class CancelRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class TreeNode(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    parent_run_id: str | None = None
    depth: int
    status: str
    runbook: str | None = None
    cost_usd: float
    duration_s: float
    steps: list[dict[str, Any]] = []


class Health(BaseModel):
    status: str
    store: str
    engine: str
    workers_busy: int
