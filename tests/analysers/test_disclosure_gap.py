"""disclosure_gap: each scan hit is covered by a disclosure of the notice, or becomes a gap."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_analysers.disclosure_gap.analyser import run
from warden_analysers.disclosure_gap.notice import covers
from warden_analysers.policy_practices.analyser import label_document

from warden.catalogue import Catalogue
from warden.documents import load_document
from warden.errors import LoadError
from warden.schemas.finding import Finding

REPO = Path(__file__).resolve().parents[2]
EVIDENCE = {"rule": "t", "start": 0, "end": 1}


@pytest.fixture(scope="module")
def acme() -> dict:
    return label_document(load_document(REPO / "fixtures" / "acme" / "notice.md")).model_dump(mode="json")


def _notice(*texts: tuple[str, list[str]]) -> dict:
    """A labelled notice built by hand: (text, labels) per passage, categories left empty."""
    passages = []
    for i, (text, labels) in enumerate(texts):
        passages.append(
            {
                "id": f"n#{i}",
                "index": i,
                "text": text,
                "labels": [
                    {
                        "label": lab,
                        "confidence": 0.9,
                        "evidence": [{"rule": "t", "start": 0, "end": 1, "quote": text[0]}],
                    }
                    for lab in labels
                ],
            }
        )
    return {"document_id": "doc", "document_name": "n.md", "labeller": "test", "passages": passages}


def _scan(system: str = "crm", categories=(), recipients=()) -> dict:
    return {
        "system_id": system,
        "system_type": "sqlite",
        "scanner": "test@0",
        "categories": [
            {
                "key": key,
                "location": loc,
                "method": "value+name",
                "detector": "test",
                "matches": 5,
                "sampled": 10,
                "masked_example": "j***@e***.com",
                "special_category": special,
            }
            for key, loc, special in categories
        ],
        "recipients": [
            {
                "recipient": name,
                "kind": kind,
                "countries": where,
                "location": "app.py:3",
                "evidence": "import x",
            }
            for name, kind, where in recipients
        ],
    }


def _gaps(notice: dict, *scans: dict, **config) -> dict[str, list[Finding]]:
    out = run({"practices": notice, **{f"scan{i}": s for i, s in enumerate(scans)}}, config)
    by_code: dict[str, list[Finding]] = {}
    for raw in out["findings"]:
        finding = Finding.model_validate(raw)
        by_code.setdefault(finding.code, []).append(finding)
    return by_code


def test_parent_category_covers_child_and_child_covers_generic_but_siblings_do_not():
    assert covers("user.contact", "user.contact.email")
    assert covers("user.contact.email", "user.contact")
    assert not covers("user.contact.email", "user.contact.phone_number")
    assert not covers("user.contact", "user.contactless")


def test_categories_the_acme_notice_names_are_not_gaps(acme):
    scan = _scan(
        categories=[
            ("user.contact.email", "customers.email", False),
            ("user.name", "customers.full_name", False),
            ("user.contact.phone_number", "customers.phone", False),
            ("user.device.ip_address", "sessions.ip", False),
        ]
    )
    gaps = _gaps(acme, scan)
    assert "gap.undisclosed_collection" not in gaps
    assert "gap.special_category_no_condition" not in gaps


def test_a_category_the_notice_never_names_is_an_undisclosed_collection_gap(acme):
    scan = _scan(categories=[("user.demographic.date_of_birth", "customers.dob", False)])
    (gap,) = _gaps(acme, scan)["gap.undisclosed_collection"]
    assert gap.system_id == "crm" and gap.data_category == "user.demographic.date_of_birth"
    assert gap.severity == "high"
    assert gap.evidence[0].location == "customers.dob"
    assert gap.evidence[0].quote == "j***@e***.com"


def test_health_data_without_an_art9_condition_is_critical(acme):
    scan = _scan(categories=[("user.health_and_medical", "tickets.notes", True)])
    gaps = _gaps(acme, scan)
    (gap,) = gaps["gap.special_category_no_condition"]
    assert gap.severity == "critical" and "Art. 9" in gap.article
    assert "gap.undisclosed_collection" not in gaps


def test_an_art9_condition_in_the_notice_clears_the_special_category_gap():
    notice = _notice(
        ("We collect your name and health data about sickness absence.", ["data_categories"]),
        ("We process health data where necessary for our obligations under employment law.", ["legal_basis"]),
    )
    notice["passages"][0]["data_categories"] = [
        {"key": "user.health_and_medical", "start": 29, "end": 40, "quote": "health data"}
    ]
    gaps = _gaps(notice, _scan(categories=[("user.health_and_medical", "staff.sick_reason", True)]))
    assert "gap.special_category_no_condition" not in gaps
    assert "gap.undisclosed_collection" not in gaps


def test_a_recipient_named_by_kind_in_a_recipients_passage_is_disclosed(acme):
    scan = _scan(
        system="web", recipients=[("Stripe", "payment", ["US"]), ("Google Analytics", "analytics", ["US"])]
    )
    gaps = _gaps(acme, scan)
    assert "gap.undisclosed_recipient" not in gaps
    assert "gap.undisclosed_transfer" not in gaps  # the notice discloses transfers to the United States


def test_a_recipient_of_an_undisclosed_kind_is_a_gap_citing_the_recipients_passage(acme):
    scan = _scan(system="web", recipients=[("OpenAI", "cloud_ai", ["US"])])
    (gap,) = _gaps(acme, scan)["gap.undisclosed_recipient"]
    assert gap.details["recipient"] == "OpenAI" and gap.system_id == "web"
    assert gap.evidence[0].location == "app.py:3"
    assert any(e.passage_id for e in gap.evidence[1:])


def test_a_recipient_named_anywhere_in_the_notice_is_disclosed():
    notice = _notice(("We use OpenAI to draft replies to your questions.", ["processing_purpose"]))
    assert "gap.undisclosed_recipient" not in _gaps(notice, _scan(recipients=[("OpenAI", "cloud_ai", [])]))


def test_a_transfer_abroad_with_no_transfer_passage_is_a_gap():
    notice = _notice(("We share data with our payment processor.", ["recipients"]))
    gaps = _gaps(notice, _scan(recipients=[("Stripe", "payment", ["US", "IE"])]))
    assert "gap.undisclosed_recipient" not in gaps
    (gap,) = gaps["gap.undisclosed_transfer"]
    assert gap.details == {"recipient": "Stripe", "country": "US"}


def test_a_transfer_passage_naming_third_countries_in_general_covers_any_country():
    notice = _notice(
        ("We share data with our payment processor.", ["recipients"]),
        (
            "Some providers are outside the EEA; we use Standard Contractual Clauses.",
            ["international_transfer"],
        ),
    )
    assert "gap.undisclosed_transfer" not in _gaps(notice, _scan(recipients=[("Stripe", "payment", ["US"])]))


def test_no_retention_disclosure_is_a_gap_per_system_that_holds_personal_data(acme):
    scans = [_scan("crm", categories=[("user.contact.email", "c.email", False)]), _scan("empty")]
    (gap,) = _gaps(acme, *scans)["gap.retention_undisclosed"]
    assert gap.system_id == "crm" and gap.severity == "medium"


def test_locations_past_the_listed_ten_are_evidence_too():
    """A gap lists ten locations; one more (or one renamed) past them changes its details, so
    the evidence hash does and a triage made on the old set goes stale. Ten or fewer leave the
    details as they were (no hash of an existing finding moves)."""
    notice = _notice(("We collect your name.", ["processing_purpose"]))

    def gaps(names: list[str]) -> dict[str, Finding]:
        scan = _scan(categories=[("user.contact.email", n, False) for n in names])
        found = _gaps(notice, scan)
        return {code: found[code][0] for code in ("gap.retention_undisclosed", "gap.undisclosed_collection")}

    ten = [f"t.email_{i:02d}" for i in range(10)]
    listed = gaps(ten)
    assert all("unlisted_locations" not in g.details for g in listed.values())
    eleven, renamed = gaps([*ten, "t.email_10"]), gaps([*ten, "t.email_99"])
    for code in listed:
        assert len(eleven[code].evidence) == 10 and eleven[code].details["unlisted_locations"] == 1
        assert eleven[code].details["unlisted_digest"] != renamed[code].details["unlisted_digest"]


def test_a_recipient_found_in_more_places_says_how_many():
    notice = _notice(("We collect your name.", ["processing_purpose"]))
    scan = _scan(recipients=[("OpenAI", "cloud_ai", [])])
    (once,) = _gaps(notice, scan)["gap.undisclosed_recipient"]
    scan["recipients"][0]["occurrences"] = 3
    (thrice,) = _gaps(notice, scan)["gap.undisclosed_recipient"]
    assert "occurrences" not in once.details and thrice.details["occurrences"] == 3


def test_disclosures_with_no_evidence_are_information_only_and_can_be_turned_off(acme):
    scan = _scan(categories=[("user.contact.email", "c.email", False)])
    unevidenced = _gaps(acme, scan)["gap.disclosed_not_found"]
    assert unevidenced and all(f.severity == "info" for f in unevidenced)
    assert "user.contact.email" not in {f.data_category for f in unevidenced}
    assert "gap.disclosed_not_found" not in _gaps(acme, scan, report_unevidenced=False)


def test_finding_ids_are_deterministic_across_runs(acme):
    scan = _scan(categories=[("user.demographic.date_of_birth", "customers.dob", False)])
    first = run({"practices": acme, "s": scan}, {})
    assert first == run({"practices": acme, "s": scan}, {})


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"s": _scan()}, "exactly one labelled notice"),
        ({"a": {"nothing": 1}}, "neither labelled passages nor a system scan"),
        ({"p": {"passages": "nope", "document_id": "x"}}, "does not match its contract"),
    ],
)
def test_bad_inputs_are_coded_errors(inputs, message):
    with pytest.raises(LoadError, match=message) as caught:
        run(inputs, {})
    assert caught.value.code == "bad_input"


def test_the_manifest_is_discovered_and_consumes_notice_and_scans():
    manifest = Catalogue.discover().get("disclosure_gap")
    assert manifest is not None
    assert manifest.input_schemas == ["labelled_passages", "system_scan"]
    assert manifest.output_schema == "findings"
