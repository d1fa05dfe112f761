"""Label fixes found on real notices (issue 18): rights named together, consent withdrawn by
turning a feature off, whole-sentence evidence, and quotes without table or markup debris."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_analysers.disclosure_gap.compare import _passage_evidence
from warden_analysers.disclosure_gap.notice import Disclosures
from warden_analysers.gdpr_transparency.analyser import check
from warden_analysers.policy_practices.analyser import label_document
from warden_analysers.policy_practices.engine import default_labeller
from warden_analysers.policy_practices.quotes import clean_quote, sentence_span

from warden.documents import load_document
from warden.schemas.practices import LabelledPassage, LabelledPassages

RIGHTS = ("Your rights",)


def labels_of(text: str, context: tuple[str, ...] = RIGHTS) -> set[str]:
    return {hit.label for hit in default_labeller().label(text, context)}


@pytest.mark.parametrize(
    ("text", "rights"),
    [
        (
            "In some cases, restrict or object to how we use your personal data.",
            {"right_restriction", "right_object"},
        ),
        ("You may object to, or restrict, our use of your data.", {"right_restriction", "right_object"}),
        (
            "You can access, correct or delete your personal data in your account.",
            {"right_access", "right_rectification", "right_erasure"},
        ),
        (
            "You can ask us to access, correct, delete or restrict the data we hold about you.",
            {"right_access", "right_rectification", "right_erasure", "right_restriction"},
        ),
    ],
)
def test_rights_listed_together_give_every_right_named(text: str, rights: set[str]) -> None:
    assert rights <= labels_of(text)


def test_restricting_access_to_data_is_not_the_right_to_restriction() -> None:
    assert "right_restriction" not in labels_of("We restrict access to your data to our support staff.", ())


@pytest.mark.parametrize(
    "text",
    [
        "Location sharing is based on your permission, and you can switch it off in the app settings.",
        "Personalised tips are shown only with your consent; you can turn them off at any time.",
        "We send the weekly digest with your consent, and you can opt out with one click.",
    ],
)
def test_turning_off_a_consent_based_feature_is_withdrawing_consent(text: str) -> None:
    assert "right_withdraw_consent" in labels_of(text, ())


def test_a_permission_the_app_needs_is_not_consent() -> None:
    text = "This feature can be disabled by denying the app permission to use the camera."
    assert "right_withdraw_consent" not in labels_of(text, ())


def test_sentence_span_widens_a_fragment_to_its_sentence() -> None:
    text = "We collect your name. Your data may be processed for marketing, e.g. newsletters. Bye!"
    at = text.index("be processed for")
    start, end = sentence_span(text, at, at + len("be processed for"))
    assert text[start:end] == "Your data may be processed for marketing, e.g. newsletters."


def test_sentence_span_stays_inside_a_table_cell() -> None:
    text = "To provide the service and process your orders | name, email address | contract"
    at = text.index("process your orders")
    start, end = sentence_span(text, at, text.index(" | contract"))
    assert text[start:end] == "name, email address"


def test_clean_quote_drops_table_markup_and_never_cuts_a_word() -> None:
    table = "| Purpose | Data |\n|---|---|\n| To provide the service | name, <b>email</b> &amp; phone |"
    assert clean_quote(table) == "Purpose; Data; To provide the service; name, email & phone"
    quote = clean_quote("personalisation " * 40, 100)
    assert quote.endswith(" …") and len(quote) <= 102
    assert all(word == "personalisation" for word in quote[:-2].split())


@pytest.fixture(scope="module")
def table_notice(tmp_path_factory: pytest.TempPathFactory) -> LabelledPassages:
    path = tmp_path_factory.mktemp("notice") / "notice.md"
    path.write_text(
        "# Privacy notice\n\n## What we use data for\n\n"
        "| Purpose | Data | Legal basis |\n|---|---|---|\n"
        "| To provide the service and process your orders | name, email address | contract |\n\n"
        "Your data may be processed for marketing purposes, e.g. newsletters, when you agree. "
        "We never sell it.\n",
        encoding="utf-8",
    )
    return label_document(load_document(path))


def test_label_evidence_is_the_whole_sentence_and_holds_no_pipes(table_notice: LabelledPassages) -> None:
    quotes = {
        label.label + "/" + p.id.rsplit("#", 1)[-1]: label.evidence[0]
        for p in table_notice.passages
        for label in p.labels
    }
    assert quotes, "the notice got no labels"
    for ev in quotes.values():
        assert "|" not in ev.quote and not ev.quote.startswith(" ")
    prose = next(p for p in table_notice.passages if p.text.startswith("Your data"))
    purpose = next(label for label in prose.labels if label.label == "processing_purpose")
    ev = purpose.evidence[0]
    assert ev.quote == "Your data may be processed for marketing purposes, e.g. newsletters, when you agree."
    assert prose.text[ev.start : ev.end] == ev.quote


def test_a_raised_severity_quotes_the_sentence_that_shows_the_condition(tmp_path: Path) -> None:
    path = tmp_path / "notice.md"
    path.write_text(
        "# Privacy notice\n\n| Basis | Note |\n|---|---|\n| We process your email address on the basis "
        "of your consent. | We keep it for two years after your last order, which is how long |\n",
        encoding="utf-8",
    )
    report = check(label_document(load_document(path)))
    finding = next(f for f in report.findings if f.details["item"] == "right_withdraw_consent")
    assert finding.severity == "high"
    assert finding.evidence[0].quote == "We process your email address on the basis of your consent."


def test_disclosed_but_not_found_quotes_are_clean() -> None:
    text = "| Data | Why |\n|---|---|\n| " + "telephone number " * 30 + "| support |"
    disclosures = Disclosures(document_id="doc", all_passages=[LabelledPassage(id="n#0", index=0, text=text)])
    (evidence,) = _passage_evidence(disclosures, ["n#0"])
    assert "|" not in evidence.quote and "---" not in evidence.quote
    assert evidence.quote.endswith("number …")
