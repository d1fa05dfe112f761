"""Document-level reasoning of gdpr_transparency (issue 18): the article scope decided from
what the notice says, and items deferred to a document the notice refers to."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_analysers.gdpr_transparency.analyser import check, resolve_reference, run
from warden_analysers.gdpr_transparency.references import find_references, reference_key
from warden_analysers.policy_practices.analyser import label_document

from warden.documents import load_document
from warden.errors import LoadError
from warden.schemas.practices import LabelledPassages, TransparencyReport

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transparency"


def _notice(tmp_path: Path, text: str, name: str = "notice.md") -> LabelledPassages:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return label_document(load_document(path))


def _fixture(name: str) -> LabelledPassages:
    return label_document(load_document(FIXTURES / name))


def _status(report: TransparencyReport) -> dict[str, str]:
    return {item.item: item.status for item in report.items}


ART13_ONLY = (
    "# Pebble Games privacy notice\n\nPebble Games Ltd is the controller. "
    "Write to privacy@pebble.example.\n\n"
    "## What you give us\n\nWhen you sign up, you provide your email address and a nickname. "
    "We use them to run your account.\n"
)


def test_a_notice_about_data_the_person_gives_is_checked_against_art13_only(tmp_path: Path) -> None:
    report = check(_notice(tmp_path, ART13_ONLY))
    assert report.scope == "13"
    decision = report.scope_decision
    assert decision is not None and decision.decided_by == "notice"
    assert any("you provide your email address" in ev.quote for ev in decision.evidence)
    status = _status(report)
    assert status["data_source"] == status["data_categories"] == "not_applicable"
    assert not any(f.details["item"] in ("data_source", "data_categories") for f in report.findings)
    item = next(i for i in report.items if i.item == "data_source")
    assert item.reason and "Art. 14 item" in item.reason


def test_a_named_source_other_than_the_person_brings_art14_in(tmp_path: Path) -> None:
    text = (
        ART13_ONLY + "\n## Other sources\n\nWe also receive your profile picture from the social network "
        "you sign in with.\n"
    )
    report = check(_notice(tmp_path, text))
    assert report.scope == "both"
    assert {ev.article for ev in report.scope_decision.evidence} == {"13", "14"}  # type: ignore[union-attr]


def test_a_notice_silent_on_where_data_comes_from_is_checked_against_both(tmp_path: Path) -> None:
    report = check(_notice(tmp_path, "# Notice\n\nWe use data to run the app.\n"))
    assert report.scope == "both" and report.scope_decision.decided_by == "default"  # type: ignore[union-attr]
    assert _status(report)["data_source"] == "missing"


@pytest.mark.parametrize(("config", "scope"), [({"scope": "art14"}, "14"), ({"article": "13"}, "13")])
def test_the_config_overrides_the_scope_and_still_shows_the_evidence(
    tmp_path: Path, config: dict, scope: str
) -> None:
    labelled = _notice(tmp_path, ART13_ONLY).model_dump(mode="json")
    report = TransparencyReport.model_validate(run({"p": labelled}, config))
    assert report.scope == scope
    assert report.scope_decision.decided_by == "override"  # type: ignore[union-attr]
    assert report.scope_decision.evidence  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("config", "needle"),
    [({"scope": "art15"}, "scope must be"), ({"scope": "art13", "article": "13"}, "not both")],
)
def test_bad_scope_config_is_a_clear_error(tmp_path: Path, config: dict, needle: str) -> None:
    with pytest.raises(LoadError, match=needle):
        run({"p": _notice(tmp_path, ART13_ONLY).model_dump(mode="json")}, config)


def test_the_manifest_schema_accepts_the_scope_override() -> None:
    import yaml

    manifest = yaml.safe_load(
        (FIXTURES.parents[1] / "analysers" / "gdpr_transparency" / "manifest.yaml").read_text()
    )
    assert manifest["config_schema"]["properties"]["scope"]["enum"] == ["auto", "art13", "art14", "both"]


def test_see_our_privacy_policy_defers_what_the_notice_leaves_out(tmp_path: Path) -> None:
    labelled = _notice(
        tmp_path,
        "# Orbit Maps app notice\n\nOrbit Ltd makes Orbit Maps. When you use the app, we collect your "
        "location to show it on the map.\n\nFor your rights and how to contact us, see our Privacy Policy.\n",
    )
    report = check(labelled)
    status = _status(report)
    assert status["right_access"] == status["controller_contact"] == "deferred"
    assert status["retention"] == "missing"  # the reference names rights and contact only
    finding = next(f for f in report.findings if f.details["item"] == "right_access")
    assert (finding.severity, finding.code) == ("info", "gdpr.deferred.right_access")
    assert finding.evidence[0].quote == "For your rights and how to contact us, see our Privacy Policy."
    (reference,) = report.references
    assert reference.name == "Privacy Policy" and reference.key == "privacy policy"
    assert "right_access" in report.deferred()["Privacy Policy"]


@pytest.mark.parametrize(
    "sentence",
    [
        "By using the app you agree to this Privacy Policy.",
        "We may update our Privacy Policy from time to time.",  # no sending the reader elsewhere
        "As described in our Privacy Policy, we keep data safe.",  # the notice's own title
    ],
)
def test_the_notice_naming_itself_is_no_reference(tmp_path: Path, sentence: str) -> None:
    labelled = _notice(
        tmp_path, f"# Orbit Privacy Policy\n\n## About\n\nOrbit Ltd makes maps.\n\n{sentence}\n"
    )
    assert find_references(labelled) == []


def test_a_main_policy_named_like_the_notice_is_another_document(tmp_path: Path) -> None:
    labelled = _notice(
        tmp_path,
        "# Orbit Maps Privacy Policy\n\n## About\n\nOrbit Ltd makes maps.\n\n"
        "For everything else, see our main Privacy Policy.\n",
    )
    assert [r.key for r in find_references(labelled)] == ["privacy policy"]


def test_reference_keys_drop_owners_articles_and_possessives() -> None:
    assert reference_key("the Lumen Privacy Statement") == "lumen privacy statement"
    assert reference_key("Lumen's Privacy Statement") == "lumen privacy statement"


def test_a_document_set_resolves_a_deferral_with_the_referenced_documents_passages() -> None:
    product = _fixture("lumen_notes_product_notice.md")
    statement = _fixture("lumen_privacy_statement.md")
    report = check(product)
    reference = next(r for r in report.references if "right_access" in r.items)
    assert reference.key == "lumen privacy statement" and reference.url == "https://lumen.example/privacy"
    resolved = resolve_reference(report, reference, statement)
    items = {i.item: i for i in resolved.items}
    assert items["right_access"].status == "present"
    assert all(
        pid.startswith(statement.passages[0].id.split("#")[0]) for pid in items["right_access"].passage_ids
    )
    # the statement has no DPO either: deferred, then missing with its finding
    assert items["dpo_contact"].status == "missing"
    assert any(f.code == "gdpr.missing.dpo_contact" for f in resolved.findings)
    assert not any(f.code == "gdpr.deferred.right_access" for f in resolved.findings)


@pytest.mark.parametrize(
    "sentence",
    [
        "We advise you to review the Privacy Policy of these websites.",
        "Ads are served by Google; see Google's Privacy Policy.",
        "Please read the privacy policies of our partners.",
        "The payment provider handles your card; see its privacy policy.",
    ],
)
def test_other_parties_policies_take_no_items_over(tmp_path: Path, sentence: str) -> None:
    labelled = _notice(tmp_path, f"# Orbit Maps notice\n\n## About\n\nOrbit Ltd makes maps.\n\n{sentence}\n")
    assert find_references(labelled) == []
