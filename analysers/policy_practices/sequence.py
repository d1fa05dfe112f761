"""Reading order: a list item is about what the sentence introducing its list said.

"We use your information to:" followed by "- improve the app" discloses a purpose only when
the two are read together, so the labeller carries such a lead-in sentence to the items after
it, until the section changes or ordinary prose resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

from warden_analysers.policy_practices.shape import ends_as_lead_in, is_heading_like, is_list_item

__all__ = ["LeadInTracker"]

LONG_PROSE = 240
"""A passage this long without a list marker is prose again, not a list item."""


class LeadInTracker:
    """Feeds passages in document order; ``lead_in`` is the sentence each one continues."""

    def __init__(self) -> None:
        self._lead: str | None = None
        self._context: tuple[str, ...] | None = None

    def next(self, text: str, context: Sequence[str]) -> str | None:
        """Returns the lead-in that applies to this passage, then updates the state."""
        ctx = tuple(context)
        if ctx != self._context or is_heading_like(text):
            self._lead = None
        self._context = ctx
        current = self._lead
        if ends_as_lead_in(text) and not is_heading_like(text):
            self._lead = text
        elif len(text) > LONG_PROSE and not is_list_item(text):
            self._lead = None
        return current
