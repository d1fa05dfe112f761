"""The runbook definition: a reviewable, schema-typed plan of analyser steps.

Runbooks are data. Planners draft them, the guard checks them, a human approves them, and
only then does the executor run them. A step either runs an analyser or executes another
runbook, given inline or as a reference to the output of an earlier step
(``{{ steps.plan.output }}``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, WithJsonSchema, field_validator, model_validator

from warden.schemas._base import SLUG_PATTERN, StrictModel
from warden.schemas.manifest import DataSchemaName

__all__ = [
    "AnalyserStep",
    "ApprovalRequirement",
    "Limits",
    "ModelConfig",
    "RetryPolicy",
    "RunbookDefinition",
    "Step",
    "WorkflowStep",
]


class Limits(StrictModel):
    """Caps that hold across the whole run tree; unset means "inherit from the parent or policy"."""

    max_depth: int | None = Field(default=None, ge=0, le=16, description="Nesting of child runbooks.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Cumulative cost cap.")
    max_duration_s: float | None = Field(default=None, gt=0, description="Wall-clock cap.")
    step_timeout_s: float | None = Field(default=None, gt=0, description="Default per-step timeout.")


RetryOn = Literal["error", "timeout"]


def _retry_on_all() -> list[RetryOn]:
    return ["error", "timeout"]


class RetryPolicy(StrictModel):
    """How a failing step is retried before the run fails."""

    max_attempts: int = Field(default=1, ge=1, le=10, description="1 means no retry.")
    backoff_s: float = Field(default=0.0, ge=0, le=600, description="Wait before the 2nd attempt.")
    backoff_multiplier: float = Field(default=2.0, ge=1, le=10)
    retry_on: list[RetryOn] = Field(default_factory=_retry_on_all)


class ApprovalRequirement(StrictModel):
    """Who must approve before the runbook runs."""

    required_role: str = Field(pattern=SLUG_PATTERN)


class ModelConfig(StrictModel):
    """The language model a runbook's LLM-using analysers call (optional; offline without it)."""

    model: str = Field(min_length=1, max_length=200)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)


class _StepBase(StrictModel):
    id: str = Field(pattern=SLUG_PATTERN)
    description: str | None = Field(default=None, max_length=2000, description="Why this step runs.")
    cites: list[str] = Field(default_factory=list, description="Passage ids that motivated the step.")
    timeout_s: float | None = Field(default=None, gt=0)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


_ONE_OR_MORE_NAMES = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    "title": "Input",
}


class AnalyserStep(_StepBase):
    """Runs one analyser on the outputs of earlier steps or on runbook inputs."""

    analyser: str = Field(pattern=SLUG_PATTERN)
    input: Annotated[list[str], WithJsonSchema(_ONE_OR_MORE_NAMES)] = Field(
        default_factory=list,
        description="Runbook input names or step ids whose outputs this step consumes (one or a list).",
    )
    system: str | None = Field(default=None, description="Inventory system id the step reads.")
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("input", mode="before")
    @classmethod
    def _one_input_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class WorkflowStep(_StepBase):
    """Executes a child runbook one level deeper, with its own guard and approval."""

    execute_workflow: str | RunbookDefinition = Field(
        description="An inline runbook, or a reference '{{ steps.<id>.output }}'."
    )
    limits: Limits = Field(default_factory=Limits, description="Caps for the child; never above ours.")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "execute_workflow" in value:
            return "workflow"
        if "analyser" in value:
            return "analyser"
        return None
    return "workflow" if isinstance(value, WorkflowStep) else "analyser"


Step = Annotated[
    Annotated[AnalyserStep, Tag("analyser")] | Annotated[WorkflowStep, Tag("workflow")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs either 'analyser' or 'execute_workflow'",
    ),
]


class RunbookDefinition(StrictModel):
    """A runbook: inputs, limits, approval and steps, for one tenant."""

    runbook: str = Field(pattern=SLUG_PATTERN, description="Name; versions share it.")
    version: int = Field(default=1, ge=1, le=2**31 - 1)  # the store keeps it in an INTEGER column
    description: str | None = Field(default=None, max_length=4000)
    tenant: str = Field(pattern=SLUG_PATTERN)
    inputs: dict[Annotated[str, Field(pattern=SLUG_PATTERN)], DataSchemaName] = Field(
        default_factory=dict,
        description="Input name -> data schema name, e.g. {document: document}.",
    )
    limits: Limits = Field(default_factory=Limits)
    approval: ApprovalRequirement | None = Field(
        default=None,
        description="Required; its absence is reported by the guard as missing_approval.",
    )
    model: ModelConfig | None = None
    steps: list[Step] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _step_ids_are_unique(self) -> RunbookDefinition:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id '{step.id}' is used twice; step ids must be unique")
            if step.id in self.inputs:
                raise ValueError(f"step id '{step.id}' shadows a runbook input of the same name")
            seen.add(step.id)
        return self


WorkflowStep.model_rebuild()
RunbookDefinition.model_rebuild()
