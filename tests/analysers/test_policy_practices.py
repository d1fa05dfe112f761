"""The passage labeller: labels with evidence spans, heading cues, lead-ins, fideslang keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_analysers.policy_practices.analyser import run
from warden_analysers.policy_practices.categories import CategoryMatcher, default_matcher
from warden_analysers.policy_practices.engine import _first_match, default_labeller
from warden_analysers.policy_practices.loader import load_lexicon, load_rules
from warden_analysers.policy_practices.prefilter import required_literals, start_literals
from warden_analysers.policy_practices.shape import is_heading_like

from warden.errors import LoadError
from warden.schemas.practices import LABELS, LabelledPassages

NOTICES = Path(__file__).resolve().parents[2] / "fixtures" / "notices"
SHARED_LABELS = Path(__file__).resolve().parents[3] / "shared" / "bin" / "labels.py"


def labels_of(text: str, context: tuple[str, ...] = (), lead_in: str | None = None) -> dict:
    return {hit.label: hit for hit in default_labeller().label(text, context, lead_in)}


def test_retention_sentence_is_labelled_with_its_evidence_span() -> None:
    text = "We keep your account data for as long as your account is open."
    hit = labels_of(text)["retention"]
    ev = hit.evidence
    assert ev.source == "text"
    assert text[ev.start : ev.end] == ev.quote
    assert "keep" in ev.quote.lower() or "as long as" in ev.quote.lower()


def test_rights_are_told_apart() -> None:
    labels = labels_of(
        "You may ask us for a copy of your personal data, have it corrected, "
        "or ask that we delete your personal data."
    )
    assert {"right_access", "right_rectification", "right_erasure"} <= labels.keys()
    assert "right_portability" not in labels


def test_complaint_and_withdrawal_of_consent() -> None:
    labels = labels_of(
        "You can withdraw your consent at any time and lodge a complaint with your local "
        "supervisory authority."
    )
    assert {"right_withdraw_consent", "right_complaint"} <= labels.keys()


def test_contact_email_is_controller_contact() -> None:
    text = "Questions? Write to privacy@example.org."
    hit = labels_of(text)["controller_contact"]
    assert hit.evidence.quote == "privacy@example.org"


def test_heading_decides_for_a_bare_list_item() -> None:
    item = "Keeping the leaderboard fair"
    assert "processing_purpose" not in labels_of(item, ("Privacy Notice", "Overview"))
    hit = labels_of(item, ("Privacy Notice", "How We Use Your Information"))["processing_purpose"]
    assert hit.evidence.source == "heading"
    assert hit.evidence.heading_index == 1
    assert hit.evidence.quote.lower() in "how we use your information"


def test_lead_in_sentence_carries_to_its_list_items() -> None:
    lead = "We rely on the following legal bases:"
    hit = labels_of("Performance of the service you asked for", ("Notice",), lead)["legal_basis"]
    assert hit.evidence.source == "lead_in"
    assert lead[hit.evidence.start : hit.evidence.end] == hit.evidence.quote


def test_headings_only_get_title_rules() -> None:
    assert is_heading_like("7. How Long We Keep Data")
    assert not is_heading_like("Phone: +44 20 7946 0000")
    assert not is_heading_like("We keep data for a year.")
    # a section title names a topic; it does not disclose a retention period
    assert "retention" not in labels_of("Data Retention", ("Notice",))


def test_unrelated_prose_gets_no_labels() -> None:
    assert labels_of("Thank you for choosing our crossword app; we hope you enjoy it.") == {}


def test_rule_labels_are_in_the_vocabulary_and_ids_unique() -> None:
    rules = load_rules().rules
    assert {r.label for r in rules} <= set(LABELS)
    assert len({r.id for r in rules}) == len(rules)


def test_every_gdpr_item_has_at_least_one_rule() -> None:
    from warden.schemas.practices import GDPR_ITEMS

    assert set(GDPR_ITEMS) <= {r.label for r in load_rules().rules}


def test_vocabulary_matches_the_scorer_copy_when_present() -> None:
    if not SHARED_LABELS.exists():
        pytest.skip("the shared scorer is not checked out beside the repository")
    namespace: dict = {}
    exec(SHARED_LABELS.read_text(encoding="utf-8"), namespace)  # stdlib-only constants
    assert tuple(namespace["LABELS"]) == LABELS


def test_lexicon_keys_exist_in_fideslang_default_taxonomy() -> None:
    from fideslang import DEFAULT_TAXONOMY

    known = {category.fides_key for category in DEFAULT_TAXONOMY.data_category}
    unknown = {term.key for term in load_lexicon().terms} - known
    assert not unknown, f"lexicon keys missing from fideslang: {sorted(unknown)}"


def test_data_categories_map_to_fideslang_keys_with_spans() -> None:
    text = "We collect your e-mail address, IP address and precise location."
    mentions = default_matcher().find(text)
    keys = [m.key for m in mentions]
    assert keys == ["user.contact.email", "user.device.ip_address", "user.location.precise"]
    for m in mentions:
        assert text[m.start : m.end] == m.quote


def test_category_prefilter_finds_what_every_term_searched_everywhere_finds() -> None:
    from warden.documents import load_document

    lexicon = load_lexicon()
    prefiltered = default_matcher()
    unfiltered = CategoryMatcher([(t.key, t.text) for t in lexicon.terms], prefilter=False)
    notices = [f for f in sorted(NOTICES.iterdir()) if f.suffix in {".html", ".txt", ".docx", ".pdf", ".md"}]
    texts = [p.text for f in notices for p in load_document(f).passages]
    texts += ["İSTANBUL: your E-MAIL address and İP address", "a " * 500]
    assert len(texts) > 100
    for text in texts:
        assert prefiltered.find(text) == unfiltered.find(text), text
    assert all(needs is not None for _key, _rx, needs in prefiltered._terms), "a term runs on every passage"


def test_prefilter_never_requires_words_the_regex_can_do_without() -> None:
    assert required_literals(r"\bcontact (?:us|me)\b") == (frozenset({"contact "}), frozenset({"us", "me"}))
    assert required_literals(r"a?b") is None  # a lone letter is not worth testing
    assert required_literals(r"(?:keep|retain)s?|\bdelete") == (frozenset({"keep", "retain", "delete"}),)


def test_prefilter_keeps_the_case_of_case_sensitive_parts() -> None:
    (factor,) = required_literals(r"(?-i:\b[A-Z]\w+),?\s+(?-i:Inc|LLC|AG)\b")
    assert factor == frozenset({"Inc", "LLC", "AG"})  # looked for in the text as written
    assert "controller_identity" in labels_of("This app is published by Acme Tools GmbH, Berlin.")
    assert "controller_identity" not in labels_of("We manage your page and the agency tab.")


def test_start_literals_and_first_match_find_what_search_finds() -> None:
    import re

    assert start_literals(r"\b(?:collect(?:s|ed)?|gather)\b") == ("coll", "gath")
    assert start_literals(r"e-?mail") == ("e-ma", "emai")
    assert start_literals(r"[\w.]+@x") is None  # a class first: no literal to look for
    assert start_literals(r"a?b") is None  # may start with a lone letter: not worth it
    pattern = r"\b(?:keep|retain)\w*\b[^.]{0,40}\b(?:for|until)\b"
    starts = start_literals(pattern, 0)
    assert starts is not None
    rx = re.compile(pattern)
    for text in [
        "we keep it. we retain logs until you ask.",
        "no match here",
        "retaining keepsakes for years",
        "shopkeeper retains for now",
    ]:
        found, expected = _first_match(rx, starts, text, text), rx.search(text)
        assert (found and found.span()) == (expected and expected.span())


def test_items_of_collection_and_purpose_lists() -> None:
    collect = ("Information we collect", "We may collect the following information:")
    assert "data_categories" in labels_of("Physical characteristics, such as height and weight", collect)
    assert "data_categories" in labels_of("Usage Data", collect)  # title-like item, its section decides
    purposes = ("How we use data", "We use your data for the following purposes:")
    assert "processing_purpose" in labels_of("To run loyalty programmes;", purposes)
    # the same short item outside such a list is nothing
    assert not labels_of("To run loyalty programmes;", ("Cookies",)).keys() & {"processing_purpose"}
    assert "data_categories" not in labels_of("sign up for an account;", ("We collect data when you:",))


def test_sharing_needs_a_disclosure_verb_and_a_recipient() -> None:
    assert "recipients" in labels_of("We may disclose your personal data to law enforcement authorities.")
    assert "recipients" in labels_of("We share usage data with our analytics providers.")
    # "provide ... to You" is not sharing, a purpose aside is a purpose
    labels = labels_of("We provide the Service to You (for app functionality and analytics).")
    assert "recipients" not in labels
    assert "processing_purpose" in labels


def test_opting_out_of_marketing_is_withdrawing_consent_and_a_choice() -> None:
    labels = labels_of("You can unsubscribe from our newsletters at any time.")
    assert {"right_withdraw_consent", "user_choice"} <= labels.keys()
    assert "right_withdraw_consent" not in labels_of("We send newsletters to subscribers.")


def test_others_having_access_is_not_the_right_of_access() -> None:
    assert "right_access" not in labels_of("These third parties have access to your personal data.")
    assert "right_access" in labels_of("You may access your personal data in the app settings.")
    assert "security" not in labels_of("We may ask for your social security number to verify you.")


def test_section_rules_need_text_evidence_too() -> None:
    sharing = ("Privacy Policy", "Sharing your information")
    assert "recipients" in labels_of("We work with Acme Analytics to measure usage.", sharing)
    assert "recipients" not in labels_of("We take this responsibility seriously.", sharing)
    retention = ("Privacy Policy", "Data retention")
    assert "retention" in labels_of("Backups are deleted after ninety days.", retention)
    assert "retention" not in labels_of("We take this responsibility seriously.", retention)


def _document(passages: list[tuple[str, list[str]]]) -> dict:
    text, rows, offset = "", [], 0
    for index, (body, headings) in enumerate(passages):
        rows.append(
            {
                "id": f"doc#{index}",
                "index": index,
                "text": body,
                "headings": headings,
                "start": offset,
                "end": offset + len(body),
            }
        )
        text += body + "\n"
        offset += len(body) + 1
    return {
        "id": "a" * 64,
        "name": "notice.md",
        "format": "markdown",
        "text": text,
        "text_chars": len(text),
        "passages": rows,
    }


def test_run_returns_labelled_passages_that_validate() -> None:
    doc = _document(
        [
            ("We share your email address with our payment processor.", ["Sharing"]),
            ("Contact our privacy team at privacy@example.org.", ["Contact"]),
        ]
    )
    out = LabelledPassages.model_validate(run({"document": doc}, {}))
    first, second = out.passages
    assert "recipients" in first.label_names()
    assert [m.key for m in first.data_categories] == ["user.contact.email"]
    assert "controller_contact" in second.label_names()
    assert out.labeller.startswith("rules@")


def test_min_confidence_drops_weaker_rules() -> None:
    doc = _document([("Keeping the leaderboard fair", ["How We Use Your Information"])])
    assert run({"document": doc}, {"min_confidence": 0.0})["passages"][0]["labels"]
    assert run({"document": doc}, {"min_confidence": 0.95})["passages"][0]["labels"] == []


@pytest.mark.parametrize(
    ("inputs", "config", "needle"),
    [
        ({}, {}, "needs the input 'document'"),
        ({"document": {"id": 1}}, {}, "not a document"),
        ({"document": _document([("x", [])])}, {"colour": "red"}, "unknown config keys"),
        ({"document": _document([("x", [])])}, {"min_confidence": 2}, "from 0 to 1"),
    ],
)
def test_bad_inputs_are_clear_errors(inputs: dict, config: dict, needle: str) -> None:
    with pytest.raises(LoadError, match=needle):
        run(inputs, config)


def test_a_named_right_to_object_is_not_vetoed_as_the_noun_object() -> None:
    assert "right_object" in labels_of(
        "Right to object: you can object to processing based on our legitimate interests."
    )
    assert "right_object" not in labels_of("Each object in the catalogue has an identifier.")


def test_a_broad_cue_yields_to_a_stronger_topic() -> None:
    # "necessary for the purposes" inside an erasure right states no purpose of processing
    erasure = labels_of(
        "You have the right to have your personal data erased if it is no longer necessary for the "
        "purposes for which it was processed."
    )
    assert "right_erasure" in erasure and "processing_purpose" not in erasure
    assert "processing_purpose" in labels_of("We use your email address to send you receipts.")
    # partners named in a security paragraph are not recipients of a disclosure
    security = labels_of(
        "We use encryption to protect your data, and our partners must protect it with security measures too."
    )
    assert "security" in security and "recipients" not in security


def test_rectification_needs_ones_own_data() -> None:
    assert "right_rectification" not in labels_of("We welcome suggestions to correct errors on our site.")
    assert "right_rectification" not in labels_of(
        "If we modify our privacy policy, we will post the revised information here."
    )
    assert "right_rectification" in labels_of("You may ask us to correct inaccurate personal data.")


def test_a_rule_regex_that_does_not_compile_names_its_file_and_rule(tmp_path: Path) -> None:
    from warden_analysers.policy_practices.loader import RULES_DIR

    for path in RULES_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    rights = tmp_path / "rights.rules.yaml"
    text = rights.read_text(encoding="utf-8")
    at = text.index("text: '") + len("text: '")
    rights.write_text(text[:at] + "(unclosed" + text[at:], encoding="utf-8")
    with pytest.raises(LoadError, match=r"rights\.rules\.yaml:right_\w+\.\w+.*does not compile"):
        load_rules(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "We use Segment to collect usage analytics.",
        "Attribution data is processed by Adjust and no one else.",
        "We work with Branch or similar providers to route links.",
    ],
)
def test_an_sdk_whose_name_is_also_a_word_is_a_recipient_when_named_as_one(text: str) -> None:
    assert "recipients" in labels_of(text)


@pytest.mark.parametrize(
    "text", ["Adjust your browser settings to refuse cookies.", "Segment the data by region."]
)
def test_the_same_word_as_a_verb_names_no_recipient(text: str) -> None:
    assert "recipients" not in labels_of(text)


def test_in_a_sharing_section_courts_count_as_recipients_but_a_courtesy_does_not() -> None:
    sharing = ("Privacy Policy", "Sharing your information")
    assert "recipients" in labels_of("Where a court orders it, we comply.", sharing)
    assert "recipients" not in labels_of("As a courtesy, we reply within two days.", sharing)
    assert "recipients" not in labels_of("This meets regulatory requirements.", sharing)


def test_a_smart_phone_is_a_device_not_a_phone_number() -> None:
    keys = {m.key for m in default_matcher().find("You can use the app on your smart phone.")}
    assert "user.contact.phone_number" not in keys


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": "p", "text": "x", "n": ' + "9" * 5000 + "}", "not valid JSON (Exceeds the limit"),
        ('{"id": "p", "text": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"id": "p", "text": "\\ud800 x"}', "lone surrogate"),
        ('{"id": "p", "text": "x", "context": ["\\udfff"]}', "lone surrogate"),
    ],
)
def test_a_row_json_can_parse_but_no_output_can_hold_is_a_bad_row_with_its_line(
    line: str, reason: str
) -> None:
    from warden_analysers.policy_practices.batch import BadRow, parse_rows

    good = '{"id": "ok", "text": "We collect your email address."}'
    with pytest.raises(BadRow) as caught:
        list(parse_rows([good, line]))
    assert caught.value.line == 2
    assert reason in caught.value.reason
