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


# ---- second missing-item round (issue 18, extract18) --------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # a parent's own right to have a child's data deleted (the child vetoes are for the
        # controller deleting data it should not have collected)
        ("Parents may look at, change or delete the profile their child has created.", "right_erasure"),
        ("A guardian has the right to have us erase the records of a minor.", "right_erasure"),
        # the -ing form of reviewing and changing one's data
        (
            "For help with reviewing or changing your personal information, write to our support team.",
            "right_access",
        ),
        # the person updating their account's details
        ("You can edit your account details from the profile screen.", "right_rectification"),
        ("Members may update certain account information in the app's settings.", "right_rectification"),
        # consent asked for
        ("Before ads are personalised, you will be asked to agree to the use of your data.", "legal_basis"),
        ("The app asks you for your permission before it reads your calendar.", "legal_basis"),
        # an answer to a consent request that can be changed afterwards
        ("You can change the choice you made about personalised ads later.", "right_withdraw_consent"),
        # a data protection department or specialist as the contact
        ("Our data protection department can be reached at the address below.", "dpo_contact"),
        # data about the person received from someone else
        ("We may obtain some information about you from the partner that referred you.", "data_source"),
        # escalating an unanswered concern to an authority
        (
            "We will try to resolve your concern, but if you are still unhappy you can contact "
            "the national data protection authority.",
            "right_complaint",
        ),
        # legitimate rights and interests
        ("We share data to protect the legitimate rights and interests of users.", "legitimate_interests"),
    ],
)
def test_second_round_wordings_that_disclose_an_item(text: str, label: str) -> None:
    assert label in labels_of(text)


@pytest.mark.parametrize(
    ("text", "context", "label"),
    [
        # the controller deleting what a child sent stays the children's policy
        (
            "If we learn that a child under 13 has sent us personal data, we will delete it.",
            ("Children",),
            "right_erasure",
        ),
        # the controller updating account information is no right of the person
        ("We may update account information when you change your plan.", (), "right_rectification"),
        # a section title in -ing form, or a table of contents naming it, states no right
        ("Reviewing, Updating or Deleting Information", (), "right_access"),
        # a parent asked for consent is the children's policy, not a basis for the person's data
        ("A parent will be asked to consent before a child can register.", (), "legal_basis"),
        # an unhappy customer contacting support names no authority
        (
            "If you are unhappy with an order, contact our support team within 14 days.",
            (),
            "right_complaint",
        ),
        # information the person gives is collected from them, not from another source
        ("We collect information about you from you when you register.", (), "data_source"),
    ],
)
def test_second_round_wordings_that_only_look_like_an_item(
    text: str, context: tuple[str, ...], label: str
) -> None:
    assert label not in labels_of(text, context)


# ---- fourth missing-item round (issue 18, the swap: branch x18) ---------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # asking to see the data held, demanding access
        ("You may ask to see the personal details we keep about you at any time.", "right_access"),
        ("Customers can demand access to the records we hold on them.", "right_access"),
        # the passive request to correct, and editing wrong data
        (
            "Residents may ask that any personal information held about them be corrected.",
            "right_rectification",
        ),
        ("You can ask us to edit any wrong data we have about you.", "right_rectification"),
        # a transfer of the data to the person or to another party
        ("You can request a transfer of personal information to you or a third party.", "right_portability"),
        # the data themselves withdrawn
        (
            "Members wishing to withdraw their information should write to the support desk.",
            "right_withdraw_consent",
        ),
        ("Any data you have given us can be withdrawn later on request.", "right_withdraw_consent"),
        # a privacy compliance officer as the contact
        ("Questions go to our Privacy Compliance Officer.", "dpo_contact"),
        # data taken from the person's own social-network profile
        ("The app may import your photo from your social media profile.", "data_source"),
        # recipients within or outside the controller's country
        ("Data may be shared with partners located within or outside Canada.", "international_transfer"),
        # a name with the quoted role it takes in the notice
        ('Northwind Media ("Developer") respects the privacy of its users.', "controller_identity"),
        # data maintained until the person asks for deletion
        ("We will maintain your booking details unless and until you ask us to remove them.", "retention"),
        # the controller's name opening a passage as the one who collects
        ("Bright Tutors collects information about users when they book a lesson.", "controller_identity"),
        ("ExampleSoft processes your personal data only to run the service.", "controller_identity"),
        # a title naming a company by its legal form
        ("Northwind Trading Ltd. Privacy Policy", "controller_identity"),
        # the right to block cookies, asking for one's profile to be deleted
        ("You have the right to block some cookies in your browser.", "right_object"),
        ("A member who asks for profile deletion is removed within a week.", "right_erasure"),
    ],
)
def test_fourth_round_wordings_that_disclose_an_item(text: str, label: str) -> None:
    assert label in labels_of(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # a promise to name the legitimate interests later names none
        (
            "Where we rely on our legitimate interests, we will tell you at that point which legitimate "
            "interests they are.",
            "legitimate_interests",
        ),
        # a promise to say later whether data are mandatory, and what the controller is not obliged to do
        (
            "When we ask for data, we will advise you whether the provision of your data is mandatory.",
            "statutory_requirement",
        ),
        ("We are not obligated to provide information that has been anonymised.", "statutory_requirement"),
        # a person being outside a place moves no data
        (
            "A resident includes anyone who lives in the State but is outside the State on holiday.",
            "international_transfer",
        ),
        # a sentence saying whom a section is for
        ("If you are located in the EU, this section applies to you.", "international_transfer"),
        # a complaint made to the controller, not to an authority
        ("If you would like to make a complaint, please contact us by e-mail.", "right_complaint"),
        # the app, "we" or a third party's tool as the one who collects names no controller
        ("The Application collects information about you when you open it.", "controller_identity"),
        ("Acme Analytics collects information about users for advertisers.", "controller_identity"),
        # a service list's item naming a product and its maker
        ("Cloud Messaging (Example Cloud LLC)", "controller_identity"),
        # when data are given is collection, not a right to correct them
        (
            "The details are those you give us when you create your account or change your account details.",
            "right_rectification",
        ),
    ],
)
def test_fourth_round_wordings_that_only_look_like_an_item(text: str, label: str) -> None:
    assert label not in labels_of(text)
