"""Label fixes of the missing-item round (issue 18): wordings that disclose a rare item, and
wordings that only look like one. The sentences are written for the tests, not taken from the
evaluation corpora."""

from __future__ import annotations

import pytest
from warden_analysers.policy_practices.engine import default_labeller


def labels_of(text: str, context: tuple[str, ...] = ()) -> set[str]:
    return {hit.label for hit in default_labeller().label(text, context)}


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("· The right of restriction.", "right_restriction"),
        ("2.4. Right to Delete", "right_erasure"),
        ("The right to object", "right_object"),
        ("Right to Data Portability", "right_portability"),
        ("If you would like it to be removed from our systems, please write to us.", "right_erasure"),
        ("To delete the data held on your account, please contact support@example.org.", "right_erasure"),
        ("You may request an exported file of the personal data we hold about you.", "right_access"),
        (
            "Members can see, edit or delete their personal information; moderators can also see it.",
            "right_access",
        ),
        (
            "If you decline to provide your phone number, you will be unable to verify your account.",
            "statutory_requirement",
        ),
        ("We may obtain information about you from other businesses to verify your identity.", "data_source"),
        ("We collect your company address from commercially available sources.", "data_source"),
        ("If you log in to the app using your social media account, we get your name.", "data_source"),
        ("Our registered office is 1 Example Street, Exampletown.", "controller_identity"),
        ("We are Example Labs Ltd, registered in England under company number 0000.", "controller_identity"),
        ("Each member may choose a nickname.", "data_categories"),
    ],
)
def test_wordings_that_disclose_an_item(text: str, label: str) -> None:
    context = ("Information we collect",) if label == "data_categories" else ()
    assert label in labels_of(text, context)


@pytest.mark.parametrize(
    ("text", "context", "label"),
    [
        # a reaction to changes of the notice, and a browser's Do-Not-Track setting
        (
            "If you object to any changes to this policy, you must stop using the app.",
            ("Changes to this policy",),
            "right_object",
        ),
        (
            "Browsers have a Do Not Track setting that lets you opt out of being tracked by advertisers.",
            (),
            "right_object",
        ),
        # an offer to say later whether data are required states no requirement
        (
            "We will gladly help to clarify whether the provision of personal data is a statutory or "
            "contractual requirement.",
            (),
            "statutory_requirement",
        ),
        # ads served from third-party ad servers, and the scope of the notice, name no source
        ("The app displays ads from third-party ad servers.", (), "data_source"),
        (
            "This policy does not apply to information we collect from third parties.",
            (),
            "data_source",
        ),
        # staff obtaining access is no right of access
        (
            "Our employees must have a business reason to obtain access to your personal information.",
            (),
            "right_access",
        ),
        # a third party's seat names no controller
        ("Our analytics partner is based in the United States.", (), "controller_identity"),
        # a flat statement that nothing is collected names no category
        ("We do not collect any personal information, usage data or location data.", (), "data_categories"),
        # a flat denial names no recipient, under a sharing heading too
        ("We do not share any user data with third parties.", ("Data sharing",), "recipients"),
        # what the person receives is not a source
        (
            "You may still receive cookies from companies that are not listed.",
            (),
            "data_source",
        ),
    ],
)
def test_wordings_that_only_look_like_an_item(text: str, context: tuple[str, ...], label: str) -> None:
    assert label not in labels_of(text, context)
