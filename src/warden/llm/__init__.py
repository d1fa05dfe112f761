"""Language models in Warden: configuration, the one factory, the call seam, cost, record/replay.

Offline is the default: nothing here is imported or called unless a model is configured and
an analyser asks for it.
"""

from warden.llm.config import LlmSettings, PlannerMode, StructuredMethod, load_settings
from warden.llm.errors import BudgetExceeded, FailureKind, LlmError, ReplayMissing
from warden.llm.pricing import Price, PriceTable
from warden.llm.session import CallRecord, LlmSession
from warden.llm.structured import InvalidOutput, call_structured

__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "FailureKind",
    "InvalidOutput",
    "LlmError",
    "LlmSession",
    "LlmSettings",
    "PlannerMode",
    "Price",
    "PriceTable",
    "ReplayMissing",
    "StructuredMethod",
    "call_structured",
    "load_settings",
]
