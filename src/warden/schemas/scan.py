"""What a system scan found: personal data by category and location, and third-party recipients.

The contract between the system analysers (``personal_data_scan``, ``third_party_scan``) and
``disclosure_gap``. Examples are masked by the scanner before they get here: nothing in a
``SystemScan`` may hold a raw value read from a system.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from warden.schemas._base import StrictModel
from warden.schemas.finding import Finding

__all__ = [
    "CategoryHit",
    "DetectionMethod",
    "RecipientHit",
    "RecipientKind",
    "SystemScan",
]

DetectionMethod = Literal["value", "name", "value+name", "code"]
"""Why a scanner believes a location holds a data category.

- ``value``: sampled values passed a validator (phonenumbers, python-stdnum, Luhn, a parser).
- ``name``: only the column, field or key name says so (no sampled value confirmed it).
- ``value+name``: both agree: the strongest evidence.
- ``code``: source code handles the data (a form field, a model attribute, an SDK call).
"""

RecipientKind = Literal[
    "analytics",
    "advertising",
    "payment",
    "email",
    "crash_reporting",
    "cloud_ai",
    "cloud",
    "customer_support",
    "other",
]
"""What a third party found in code does with the data it receives.

- ``analytics``: usage analytics and product telemetry (Google Analytics, Mixpanel, ...).
- ``advertising``: ad networks and tracking pixels (Meta Pixel, Google Ads, ...).
- ``payment``: payment processors (Stripe, PayPal, Adyen, ...).
- ``email``: e-mail and messaging delivery (SendGrid, Mailchimp, Twilio, ...).
- ``crash_reporting``: error and crash reporting (Sentry, Bugsnag, ...).
- ``cloud_ai``: hosted AI models that receive prompts (OpenAI, Anthropic, ...).
- ``cloud``: storage and hosting APIs that hold copies (AWS S3, Google Cloud Storage, ...).
- ``customer_support``: support desks and chat widgets (Zendesk, Intercom, ...).
- ``other``: a known third party of no category above.
"""


class CategoryHit(StrictModel):
    """One data category found at one location of a system."""

    key: str = Field(pattern=r"^user(\.[a-z_]+)*$", description="fideslang key, e.g. user.contact.email")
    location: str = Field(description="'table.column', 'file.csv:column', 'file.jsonl:key' or 'file.py:12'.")
    method: DetectionMethod
    detector: str = Field(description="Which detector matched, e.g. 'email', 'iban', 'luhn', 'column-name'.")
    matches: int = Field(ge=0, description="Sampled values that matched (0 for name-only hits).")
    sampled: int = Field(ge=0, description="Values inspected at this location.")
    masked_example: str | None = Field(
        default=None, max_length=200, description="One matching value, masked (e.g. 'j***@e***.com')."
    )
    special_category: bool = Field(default=False, description="GDPR Art. 9 data (health, religion, ...).")


class RecipientHit(StrictModel):
    """One third party that code of the system sends data to."""

    recipient: str = Field(description="Canonical name, e.g. 'Google Analytics'.")
    kind: RecipientKind
    countries: list[str] = Field(
        default_factory=list, description="ISO 3166 codes where it processes data, e.g. ['US']."
    )
    location: str = Field(description="'path/file.py:12' of the first piece of evidence.")
    evidence: str = Field(max_length=300, description="The import, package or endpoint that showed it.")
    data_categories: list[str] = Field(
        default_factory=list, description="fideslang keys of what it typically receives."
    )
    occurrences: int = Field(default=1, ge=1)


class SystemScan(StrictModel):
    """Output of a system analyser: what one system holds and where it sends it."""

    system_id: str
    system_type: str
    scanner: str = Field(description="Analyser name and version, e.g. 'personal_data_scan@0.1.0'.")
    categories: list[CategoryHit] = Field(default_factory=list)
    recipients: list[RecipientHit] = Field(default_factory=list)
    stats: dict[str, Any] = Field(
        default_factory=dict, description="Tables, files, rows sampled, truncation: for the analyst."
    )
    findings: list[Finding] = Field(default_factory=list)
