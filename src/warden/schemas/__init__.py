"""The schema-typed contracts that flow through Warden, and their JSON Schemas.

``warden schema NAME`` prints ``SCHEMAS[NAME].model_json_schema()``.
"""

from __future__ import annotations

from pydantic import BaseModel

from warden.schemas.approval import ApprovalDecision, DecisionKind
from warden.schemas.document import Document, DocumentFormat, Passage
from warden.schemas.finding import Evidence, Finding, Severity
from warden.schemas.manifest import DATA_SCHEMAS, AnalyserManifest, DataSchemaName, LlmUse
from warden.schemas.policy import GovernancePolicy, System, SystemType, Tenant
from warden.schemas.practices import LabelledPassages, TransparencyReport
from warden.schemas.report import ISSUE_CODES, CheckResult, GuardIssue, IssueCode, ValidationReport
from warden.schemas.runbook import (
    AnalyserStep,
    ApprovalRequirement,
    Limits,
    ModelConfig,
    RetryPolicy,
    RunbookDefinition,
    Step,
    WorkflowStep,
)
from warden.schemas.scan import CategoryHit, RecipientHit, SystemScan

__all__ = [
    "DATA_SCHEMAS",
    "ISSUE_CODES",
    "SCHEMAS",
    "AnalyserManifest",
    "AnalyserStep",
    "ApprovalDecision",
    "ApprovalRequirement",
    "CategoryHit",
    "CheckResult",
    "DataSchemaName",
    "DecisionKind",
    "Document",
    "DocumentFormat",
    "Evidence",
    "Finding",
    "GovernancePolicy",
    "GuardIssue",
    "IssueCode",
    "LabelledPassages",
    "Limits",
    "LlmUse",
    "ModelConfig",
    "Passage",
    "RecipientHit",
    "RetryPolicy",
    "RunbookDefinition",
    "Severity",
    "Step",
    "System",
    "SystemScan",
    "SystemType",
    "Tenant",
    "TransparencyReport",
    "ValidationReport",
    "WorkflowStep",
]

SCHEMAS: dict[str, type[BaseModel]] = {
    "runbook": RunbookDefinition,
    "manifest": AnalyserManifest,
    "finding": Finding,
    "validation-report": ValidationReport,
    "approval": ApprovalDecision,
    "policy": GovernancePolicy,
    "document": Document,
    "labelled-passages": LabelledPassages,
    "transparency-report": TransparencyReport,
    "system-scan": SystemScan,
}
"""Schema names accepted by ``warden schema``."""
