"""personal_data_scan: validated detectors, every system type, bounded samples, masked output,
refused locations and coded errors, on small real databases and files built in tmp_path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from warden_analysers.personal_data_scan.analyser import VERSION, run
from warden_analysers.personal_data_scan.config import ScanConfig
from warden_analysers.personal_data_scan.connectors.jsonl import flatten
from warden_analysers.personal_data_scan.detect import detect_column
from warden_analysers.personal_data_scan.detectors.registry import build_detectors, emitted_keys
from warden_analysers.personal_data_scan.findings import finding_id
from warden_analysers.personal_data_scan.masking import mask_iban
from warden_analysers.personal_data_scan.sample import ColumnSample

from warden.analyser import AnalyserContext
from warden.catalogue import Catalogue
from warden.errors import LoadError
from warden.schemas.policy import System
from warden.schemas.scan import SystemScan

REPO = Path(__file__).resolve().parents[2]
DETECTORS = build_detectors()

# Valid values (checksums verified by the validators); each must never appear in any output.
EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"
IBAN = "DE89370400440532013000"
CARD = "4111 1111 1111 1111"
SSN = "536-90-4399"
NINO = "AB123456C"
IP = "203.0.113.42"
MAC = "00:1A:2B:3C:4D:5E"
AD_ID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
DOB = "1984-03-02"
COORDS = "52.520008, 13.404954"
VAT = "DE136695976"
FULL_NAME = "Rosalind Okonkwo"
PLANTED = [EMAIL, PHONE, IBAN, CARD, SSN, NINO, IP, MAC, AD_ID, DOB, COORDS, VAT, FULL_NAME]

CUSTOMER_COLUMNS = ["id", "full_name", "email", "phone", "dob", "iban", "card_number", "ssn", "last_ip"]


def _customer_rows(n: int) -> list[tuple[Any, ...]]:
    return [(i, FULL_NAME, EMAIL, PHONE, DOB, IBAN, CARD, SSN, IP) for i in range(n)]


def _ctx(tmp_path: Path, system_type: str, location: str) -> AnalyserContext:
    """A context whose only allowed root is tmp_path/systems, and one system to scan."""
    root = tmp_path / "systems"
    root.mkdir(exist_ok=True)
    system = System(id="target", type=system_type, location=location, owner="dpo@test")  # type: ignore[arg-type]
    return AnalyserContext(
        tenant="acme",
        run_id="run-1",
        step_id="scan",
        system_id="target",
        systems=(system,),
        base_dir=tmp_path,
        allowed_roots=(root,),
    )


def _scan(tmp_path: Path, system_type: str, location: str, **config: Any) -> dict[str, Any]:
    return run({}, config, _ctx(tmp_path, system_type, location))


def _error(tmp_path: Path, system_type: str, location: str, **config: Any) -> LoadError:
    with pytest.raises(LoadError) as caught:
        _scan(tmp_path, system_type, location, **config)
    return caught.value


def _hits(output: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["location"], c["key"]): c for c in output["categories"]}


def _assert_nothing_raw(output: dict[str, Any], planted: list[str] = PLANTED) -> None:
    text = json.dumps(output)
    for raw in planted:
        assert raw not in text, f"raw value {raw!r} leaked into the output"
        assert raw.replace(" ", "") not in text


def _sqlite(path: Path, rows: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE customers ({', '.join(CUSTOMER_COLUMNS)})")
    con.executemany(
        f"INSERT INTO customers VALUES ({', '.join('?' * len(CUSTOMER_COLUMNS))})", _customer_rows(rows)
    )
    con.execute("CREATE TABLE products (sku TEXT, title TEXT, price REAL)")
    con.executemany(
        "INSERT INTO products VALUES (?, ?, ?)", [(f"SKU-{i}", "Desk lamp", 19.5) for i in range(20)]
    )
    con.commit()
    con.close()
    return path


def _column(name: str, values: list[str], context: str = "t") -> ColumnSample:
    return ColumnSample(location=f"{context}.{name}", name=name, context=context, values=values)


# --- detectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "key", "method", "detector"),
    [
        ("contact", [EMAIL, "a.b@example.co.uk"], "user.contact.email", "value", "email"),
        ("email", [EMAIL], "user.contact.email", "value+name", "email"),
        ("reach", [PHONE, "(415) 555-2671"], "user.contact.phone_number", "value", "phone"),
        ("mobile", ["020 7946 0958"], "user.contact.phone_number", "value+name", "phone"),
        ("ref", [IBAN, "GB82 WEST 1234 5698 7654 32"], "user.financial.bank_account", "value", "iban"),
        ("ref", [CARD, "5555555555554444"], "user.financial.credit_card", "value", "luhn"),
        ("ref", [SSN], "user.government_id.national_identification_number", "value", "us-ssn"),
        ("ref", [NINO], "user.government_id.national_identification_number", "value", "uk-nino"),
        ("ref", ["12345678Z"], "user.government_id.national_identification_number", "value", "es-dni"),
        (
            "ref",
            ["RSSMRA85T10A562S"],
            "user.government_id.national_identification_number",
            "value",
            "it-codice-fiscale",
        ),
        ("bsn", ["111222333"], "user.government_id.national_identification_number", "value+name", "nl-bsn"),
        ("ref", [VAT], "user.government_id", "value", "vat"),
        ("steuer_id", ["36574261809"], "user.government_id", "value+name", "de-idnr"),
        ("host", [IP, "2001:db8::1"], "user.device.ip_address", "value", "ip-address"),
        ("hw", [MAC], "user.device.device_id", "value", "mac-address"),
        ("idfa", [AD_ID], "user.device.device_id", "value+name", "advertising-id"),
        ("imei", ["490154203237518"], "user.device.device_id", "value+name", "imei"),
        ("position", [COORDS], "user.location.precise", "value+name", "coordinates"),
        ("spot", [COORDS], "user.location.precise", "value", "coordinates"),
        ("latitude", ["52.520008"], "user.location.precise", "value+name", "coordinates"),
        (
            "date_of_birth",
            [DOB, "02/03/1984"],
            "user.demographic.date_of_birth",
            "value+name",
            "date-of-birth",
        ),
        ("firstName", ["Jane", "Seán"], "user.name", "value+name", "person-name"),
        ("street_address", ["221B Baker Street"], "user.contact.address", "value+name", "postal-address"),
        ("postcode", ["SW1A 1AA"], "user.contact.address.postal_code", "value+name", "postcode"),
        ("notes", ["Diabetes", "asthma"], "user.health_and_medical", "value", "health"),
        ("diagnosis", ["E11.9", "J45.909"], "user.health_and_medical", "value+name", "health"),
        (
            "nhs_number",
            ["9434765919"],
            "user.health_and_medical.record_id",
            "value+name",
            "medical-record-id",
        ),
        ("sample", ["ACGTACGTTAGCCGATAGCTAGGT"], "user.health_and_medical.genetic", "value", "genetic"),
        ("tag", ["Catholic", "Muslim"], "user.demographic.religious_belief", "value", "religion"),
        (
            "ethnicity",
            ["White British", "Asian"],
            "user.demographic.race_ethnicity",
            "value+name",
            "ethnicity",
        ),
        (
            "party_affiliation",
            ["Labour"],
            "user.demographic.political_opinion",
            "value+name",
            "political-opinion",
        ),
        (
            "label",
            ["Bisexual", "heterosexual"],
            "user.demographic.sexual_orientation",
            "value",
            "sexual-orientation",
        ),
    ],
)
def test_detector_hits_on_valid_values(
    column: str, values: list[str], key: str, method: str, detector: str
) -> None:
    hits = {h.category.key: h.category for h in detect_column(_column(column, values), DETECTORS, 0.5)}
    assert key in hits, f"no {key} in {sorted(hits)}"
    hit = hits[key]
    assert (hit.method, hit.detector) == (method, detector)
    assert hit.matches == len(values) and hit.sampled == len(values)
    assert hit.masked_example and all(raw not in hit.masked_example for raw in values)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (["4111 1111 1111 1112", "5555555555554445"], "user.financial.credit_card"),  # bad Luhn
        (["1234567812345670"], "user.financial.credit_card"),  # Luhn-valid, but no issuer's range
        (["DE88370400440532013000", "GB82WEST12345698765433"], "user.financial.bank_account"),  # bad mod 97
        (["+44 20 7946 095", "12345678", "52.520008", "1984-03-02"], "user.contact.phone_number"),
        (["000-12-3456", "123456789"], "user.government_id.national_identification_number"),
        (["BG123456C", "12345678A"], "user.government_id.national_identification_number"),
        (["DE136695977"], "user.government_id"),  # bad VAT check digit
        (["jane.roe@", "@example.org", "jane.roe@example", "jane..roe@example.org"], "user.contact.email"),
        (["999.1.1.1", "1.2.3", "0.0.0.0"], "user.device.ip_address"),
        (["00:1A:2B-3C:4D:5E", "00:00:00:00:00:00"], "user.device.device_id"),
        (["white", "green"], "user.demographic.race_ethnicity"),  # colours, in a column not named for it
        (["152.520008, 13.404954"], "user.location.precise"),
        (["The patient reported diabetes"], "user.health_and_medical"),  # vocabulary is whole-value only
    ],
)
def test_detector_misses_invalid_values_in_neutrally_named_columns(values: list[str], key: str) -> None:
    hits = {h.category.key for h in detect_column(_column("value", values), DETECTORS, 0.1)}
    assert key not in hits


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (["4111 1111 1111 1112"], "user.financial.credit_card"),
        (["DE88370400440532013000"], "user.financial.bank_account"),
        (["111222334"], "user.government_id.national_identification_number"),
    ],
)
def test_a_bad_checksum_in_a_named_column_is_name_evidence_only(values: list[str], key: str) -> None:
    name = {"user.financial.credit_card": "card_number", "user.financial.bank_account": "iban"}.get(
        key, "bsn"
    )
    hits = {h.category.key: h.category for h in detect_column(_column(name, values), DETECTORS, 0.1)}
    assert hits[key].method == "name"
    assert hits[key].matches == 0 and hits[key].masked_example is None


def test_free_text_yields_embedded_emails_ibans_cards_and_ips() -> None:
    text = [f"refund to {IBAN} for {EMAIL} from {IP} card {CARD}", "nothing here"]
    hits = {h.category.key: h.category for h in detect_column(_column("message", text), DETECTORS, 0.5)}
    assert {"user.contact.email", "user.financial.bank_account", "user.device.ip_address"} <= set(hits)
    assert "user.financial.credit_card" in hits
    assert all(h.method == "value" and h.matches == 1 for h in hits.values())
    assert hits["user.contact.email"].masked_example == "j***@e***.org"


def test_too_few_matching_values_are_noise_not_a_hit() -> None:
    values = [EMAIL] + [f"order-{i}" for i in range(99)]
    assert detect_column(_column("ref", values), DETECTORS, 0.1) == []
    assert {h.category.key for h in detect_column(_column("ref", values), DETECTORS, 0.01)} == {
        "user.contact.email"
    }


def test_name_rules_do_not_confuse_related_words() -> None:
    def keys(name: str, context: str = "t") -> set[str]:
        return {h.category.key for h in detect_column(_column(name, [], context), DETECTORS, 0.1)}

    assert keys("ip_address") == {"user.device.ip_address"}
    assert keys("email_address") == {"user.contact.email"}
    assert keys("phone_verified") == set()
    assert keys("username") == set()
    assert keys("name", "products") == set()
    assert keys("name", "customers") == {"user.name"}
    assert keys("terms_and_conditions") == set()
    assert keys("religion") == {"user.demographic.religious_belief"}
    assert keys("trade_union_membership") == {"user.demographic"}
    assert keys("fingerprint_template") == {"user.biometric.fingerprint"}


def test_every_emitted_key_exists_in_fideslang() -> None:
    taxonomy = {c.fides_key for c in DEFAULT_TAXONOMY.data_category}
    assert emitted_keys() <= taxonomy, sorted(emitted_keys() - taxonomy)


def test_emitted_keys_line_up_with_the_notice_side_keys() -> None:
    rules = yaml.safe_load((REPO / "analysers/policy_practices/rules/data_categories.yaml").read_text())
    notice = {term["key"] for term in rules["terms"]}
    core = {
        "user.contact.email",
        "user.contact.phone_number",
        "user.contact.address",
        "user.name",
        "user.demographic.date_of_birth",
        "user.government_id.national_identification_number",
        "user.financial.bank_account",
        "user.financial.credit_card",
        "user.device.ip_address",
        "user.device.device_id",
        "user.location.precise",
        "user.health_and_medical",
        "user.biometric",
        "user.demographic.religious_belief",
    }
    assert core <= notice & emitted_keys()
    for key in emitted_keys():  # each is a notice key or a close relative (same two first levels)
        assert any(n.split(".")[:2] == key.split(".")[:2] for n in notice), key


def test_iban_mask_keeps_country_and_last_four_only() -> None:
    assert mask_iban(IBAN) == "DE** **** **** **** **30 00"


# --- systems ---------------------------------------------------------------------------------


def test_sqlite_system_reports_categories_with_masked_examples_and_findings(tmp_path: Path) -> None:
    _sqlite(tmp_path / "systems" / "crm.sqlite")
    out = _scan(tmp_path, "sqlite", "systems/crm.sqlite")
    scan = SystemScan.model_validate(out)
    assert scan.scanner == f"personal_data_scan@{VERSION}" and scan.system_type == "sqlite"
    hits = _hits(out)
    expected = {
        ("customers.email", "user.contact.email"): "j***@e***.org",
        ("customers.phone", "user.contact.phone_number"): "+44 ** **** **58",
        ("customers.iban", "user.financial.bank_account"): "DE** **** **** **** **30 00",
        ("customers.card_number", "user.financial.credit_card"): "**** **** **** 1111",
        ("customers.ssn", "user.government_id.national_identification_number"): "***-**-**99",
        ("customers.last_ip", "user.device.ip_address"): "203.*.*.*",
        ("customers.full_name", "user.name"): "R*** O***",
        ("customers.dob", "user.demographic.date_of_birth"): "****-**-**",
    }
    for where, masked in expected.items():
        assert hits[where]["masked_example"] == masked
        assert hits[where]["method"] == "value+name" and hits[where]["matches"] == 20
    assert not [c for c in out["categories"] if c["location"].startswith("products.")]
    assert out["stats"]["tables"] == 2 and out["stats"]["rows_sampled"] == 40
    finding = next(f for f in out["findings"] if f["data_category"] == "user.contact.email")
    assert finding["severity"] == "info" and finding["category"] == "inventory"
    assert finding["code"] == "scan.personal_data" and finding["system_id"] == "target"
    assert finding["evidence"] == [
        {**{k: None for k in ("document_id", "passage_id", "page", "start", "end")},
         "quote": "j***@e***.org", "system_id": "target", "location": "customers.email"}
    ]  # fmt: skip
    assert finding["details"] == {"matches": 20, "sampled": 20, "method": "value+name", "detector": "email"}
    assert finding["id"] == finding_id("target", "customers.email", "user.contact.email")
    _assert_nothing_raw(out)


def test_rerunning_a_scan_gives_identical_output(tmp_path: Path) -> None:
    _sqlite(tmp_path / "systems" / "crm.sqlite")
    assert _scan(tmp_path, "sqlite", "systems/crm.sqlite") == _scan(tmp_path, "sqlite", "systems/crm.sqlite")


def test_special_categories_raise_severity(tmp_path: Path) -> None:
    path = tmp_path / "systems" / "clinic.sqlite"
    path.parent.mkdir(parents=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE patients (id INTEGER, diagnosis TEXT, religion TEXT, fingerprint_hash TEXT)")
    con.executemany(
        "INSERT INTO patients VALUES (?, ?, ?, ?)", [(i, "E11.9", "Buddhist", "ab12") for i in range(5)]
    )
    con.commit()
    con.close()
    out = _scan(tmp_path, "sqlite", "systems/clinic.sqlite")
    special = {f["data_category"]: f for f in out["findings"] if f["code"] == "scan.special_category"}
    assert set(special) == {
        "user.health_and_medical",
        "user.demographic.religious_belief",
        "user.biometric.fingerprint",
    }
    assert all(f["severity"] == "medium" and f["article"] == "GDPR Art. 9(1)" for f in special.values())
    assert special["user.biometric.fingerprint"]["details"]["method"] == "name"
    _assert_nothing_raw(out, ["E11.9", "Buddhist"])


def test_duckdb_system_is_scanned_read_only(tmp_path: Path) -> None:
    path = tmp_path / "systems" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA crm")
    con.execute("CREATE TABLE crm.contacts (email VARCHAR, born DATE, mac VARCHAR)")
    con.executemany("INSERT INTO crm.contacts VALUES (?, ?, ?)", [(EMAIL, DOB, MAC)] * 10)
    con.close()
    out = _scan(tmp_path, "duckdb", "systems/warehouse.duckdb")
    hits = _hits(out)
    assert hits[("crm.contacts.email", "user.contact.email")]["method"] == "value+name"
    assert hits[("crm.contacts.born", "user.demographic.date_of_birth")]["method"] == "value+name"
    assert hits[("crm.contacts.mac", "user.device.device_id")]["masked_example"] == "00:**:**:**:**:**"
    _assert_nothing_raw(out)
    con = duckdb.connect(str(path))  # a read-only scanner left no lock and no change behind
    assert con.execute("SELECT count(*) FROM crm.contacts").fetchone() == (10,)
    con.close()


def test_csv_folder_and_parquet_file_are_scanned_through_duckdb(tmp_path: Path) -> None:
    folder = tmp_path / "systems" / "exports"
    (folder / "2024").mkdir(parents=True)
    (folder / "customers.csv").write_text(
        "id,email,phone\n" + "".join(f"{i},{EMAIL},{PHONE}\n" for i in range(12)), encoding="utf-8"
    )
    (folder / "2024" / "payments.csv").write_text(
        "order,iban\n" + "".join(f"{i},{IBAN}\n" for i in range(12)), encoding="utf-8"
    )
    (folder / "readme.txt").write_text(f"contact {EMAIL}")  # not a CSV: not read
    out = _scan(tmp_path, "csv", "systems/exports")
    hits = _hits(out)
    assert hits[("customers.csv:phone", "user.contact.phone_number")]["masked_example"] == "+44 ** **** **58"
    assert ("2024/payments.csv:iban", "user.financial.bank_account") in hits
    assert out["stats"]["tables"] == 2
    _assert_nothing_raw(out)

    parquet = tmp_path / "systems" / "events.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS id, '{IP}' AS client_ip, '{AD_ID}' AS idfa, 52.520008 AS lat FROM range(30)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    con.close()
    out = _scan(tmp_path, "parquet", "systems/events.parquet")
    hits = _hits(out)
    assert hits[("events.parquet:client_ip", "user.device.ip_address")]["matches"] == 30
    assert hits[("events.parquet:idfa", "user.device.device_id")]["method"] == "value+name"
    assert hits[("events.parquet:lat", "user.location.precise")]["masked_example"] == "52.***"
    _assert_nothing_raw(out)


def test_jsonl_logs_flatten_nested_keys_and_cite_the_first_line(tmp_path: Path) -> None:
    folder = tmp_path / "systems" / "logs"
    folder.mkdir(parents=True)
    lines = [
        json.dumps(
            {"ts": "2024-05-01T10:00:00Z", "user": {"email": EMAIL, "geo": {"ip": IP}}, "level": "info"}
        ),
        "not json at all",
        "",
        json.dumps({"msg": f"password reset sent to {EMAIL}", "tags": [{"card": CARD}]}),
        json.dumps({"by_user": {EMAIL: {"visits": 3}}}),  # a key that is data
    ]
    (folder / "app.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _scan(tmp_path, "jsonl", "systems/logs", min_share=0.5)
    hits = _hits(out)
    email = hits[("app.jsonl:user.email", "user.contact.email")]
    assert email["method"] == "value+name"
    assert ("app.jsonl:user.geo.ip", "user.device.ip_address") in hits
    assert hits[("app.jsonl:msg", "user.contact.email")]["method"] == "value"
    assert (
        hits[("app.jsonl:tags[].card", "user.financial.credit_card")]["masked_example"]
        == "**** **** **** 1111"
    )
    first = next(f for f in out["findings"] if f["evidence"][0]["location"] == "app.jsonl:msg")
    assert first["details"]["first_line"] == 4
    assert flatten({"by_user": {EMAIL: {"visits": 3}}}) == [("by_user.*.visits", 3)]
    assert out["stats"]["bad_lines"] == 1
    _assert_nothing_raw(out)


def test_file_and_column_names_that_hold_data_are_replaced_in_locations(tmp_path: Path) -> None:
    folder = tmp_path / "systems" / "exports"
    folder.mkdir(parents=True)
    (folder / f"{EMAIL}.csv").write_text(f"id,{EMAIL}\n1,{IBAN}\n2,{IBAN}\n")
    (folder / "events-20240501.csv").write_text(f"email\n{EMAIL}\n")
    out = _scan(tmp_path, "csv", "systems/exports")
    assert {c["location"] for c in out["categories"]} == {"events-20240501.csv:email", "file1.csv:column1"}
    _assert_nothing_raw(out)


def test_jsonl_overlong_line_stops_that_file_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "systems" / "big.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"email": EMAIL})
        + "\n"
        + json.dumps({"blob": "x" * 5000})
        + "\n"
        + json.dumps({"ip": IP})
        + "\n"
    )
    out = _scan(tmp_path, "jsonl", "systems/big.jsonl", max_line_bytes=1024)
    assert out["stats"]["long_lines"] == 1 and out["stats"]["rows_sampled"] == 1
    assert {c["key"] for c in out["categories"]} == {"user.contact.email"}


# --- bounds ----------------------------------------------------------------------------------


def test_sample_size_bounds_every_system_type(tmp_path: Path) -> None:
    root = tmp_path / "systems"
    _sqlite(root / "crm.sqlite", rows=3000)
    (root / "big.csv").write_text("email\n" + f"{EMAIL}\n" * 3000)
    (root / "big.jsonl").write_text((json.dumps({"email": EMAIL}) + "\n") * 3000)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT '{EMAIL}' AS email FROM range(3000)) TO '{root / 'big.parquet'}' (FORMAT parquet)"
    )
    con.close()
    for system_type, location, rows in [
        ("sqlite", "systems/crm.sqlite", 2 * 25),  # two tables, products has 20 rows
        ("csv", "systems/big.csv", 25),
        ("parquet", "systems/big.parquet", 25),
        ("jsonl", "systems/big.jsonl", 25),
    ]:
        out = _scan(tmp_path, system_type, location, sample_size=25)
        assert out["stats"]["rows_sampled"] <= rows, system_type
        assert all(c["sampled"] <= 25 for c in out["categories"]), system_type
        email = next(c for c in out["categories"] if c["key"] == "user.contact.email")
        assert email["sampled"] == 25 and email["matches"] == 25


def test_max_tables_limits_and_reports_truncation(tmp_path: Path) -> None:
    folder = tmp_path / "systems" / "many"
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"part{i}.csv").write_text(f"email\n{EMAIL}\n")
    out = _scan(tmp_path, "csv", "systems/many", max_tables=2)
    assert out["stats"]["tables"] == 2 and out["stats"]["tables_skipped"] == 3 and out["stats"]["truncated"]
    assert {c["location"] for c in out["categories"]} == {"part0.csv:email", "part1.csv:email"}


# --- refusals and errors ---------------------------------------------------------------------


def test_location_outside_the_allowed_roots_is_refused(tmp_path: Path) -> None:
    _sqlite(tmp_path / "elsewhere" / "crm.sqlite")
    err = _error(tmp_path, "sqlite", "elsewhere/crm.sqlite")
    assert err.code == "outside_allowed_roots"
    assert _error(tmp_path, "sqlite", "systems/../elsewhere/crm.sqlite").code == "outside_allowed_roots"
    assert (
        _error(tmp_path, "sqlite", str(tmp_path / "elsewhere" / "crm.sqlite")).code == "outside_allowed_roots"
    )


def test_symlink_escaping_the_allowed_roots_is_refused(tmp_path: Path) -> None:
    target = _sqlite(tmp_path / "elsewhere" / "crm.sqlite")
    (tmp_path / "systems").mkdir()
    (tmp_path / "systems" / "link.sqlite").symlink_to(target)
    assert _error(tmp_path, "sqlite", "systems/link.sqlite").code == "outside_allowed_roots"

    folder = tmp_path / "systems" / "exports"
    folder.mkdir()
    (folder / "ok.csv").write_text(f"email\n{EMAIL}\n")
    outside = tmp_path / "elsewhere" / "secret.csv"
    outside.write_text(f"email\n{EMAIL}\n")
    (folder / "secret.csv").symlink_to(outside)
    err = _error(tmp_path, "csv", "systems/exports")
    assert err.code == "outside_allowed_roots" and "secret.csv" in err.message


def test_missing_location_is_system_missing(tmp_path: Path) -> None:
    assert _error(tmp_path, "sqlite", "systems/nope.sqlite").code == "system_missing"
    assert _error(tmp_path, "csv", "systems/no-folder").code == "system_missing"


@pytest.mark.parametrize("system_type", ["sqlite", "duckdb"])
def test_a_file_that_is_not_a_database_is_refused_without_echoing_it(
    tmp_path: Path, system_type: str
) -> None:
    path = tmp_path / "systems" / "fake.db"
    path.parent.mkdir(parents=True)
    path.write_text(f"{EMAIL},{IBAN}\n" * 50)
    err = _error(tmp_path, system_type, "systems/fake.db")
    assert err.code == "not_a_database"
    assert EMAIL not in str(err) and IBAN not in str(err)


def test_a_corrupt_sqlite_file_is_not_a_database(tmp_path: Path) -> None:
    path = _sqlite(tmp_path / "systems" / "crm.sqlite")
    data = bytearray(path.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # keep the header, wreck every page
    path.write_bytes(bytes(data))
    assert _error(tmp_path, "sqlite", "systems/crm.sqlite").code == "not_a_database"


def test_a_locked_sqlite_database_is_system_locked(tmp_path: Path) -> None:
    path = _sqlite(tmp_path / "systems" / "crm.sqlite")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        err = _error(tmp_path, "sqlite", "systems/crm.sqlite", lock_timeout_s=0.2)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert err.code == "system_locked"


def test_a_duckdb_file_held_by_a_writer_process_is_system_locked(tmp_path: Path) -> None:
    path = tmp_path / "systems" / "w.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (email VARCHAR)")
    con.close()
    holder = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert _error(tmp_path, "duckdb", "systems/w.duckdb").code == "system_locked"
    finally:
        proc.communicate("", timeout=30)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_an_unreadable_file_is_system_unreadable(tmp_path: Path) -> None:
    path = _sqlite(tmp_path / "systems" / "crm.sqlite")
    path.chmod(0)
    try:
        assert _error(tmp_path, "sqlite", "systems/crm.sqlite").code == "system_unreadable"
    finally:
        path.chmod(0o600)


def test_empty_systems_are_reported_as_empty(tmp_path: Path) -> None:
    root = tmp_path / "systems"
    root.mkdir()
    sqlite3.connect(root / "empty.sqlite").close()  # zero bytes
    con = sqlite3.connect(root / "notables.sqlite")
    con.execute("CREATE TABLE t (a)")
    con.execute("DROP TABLE t")
    con.commit()
    con.close()
    (root / "no-csv").mkdir()
    (root / "no-csv" / "notes.txt").write_text("hello")
    (root / "header-only.csv").write_text("email,phone\n")
    (root / "blank.jsonl").write_text("\n\n")
    cases = [
        ("sqlite", "systems/empty.sqlite"),
        ("sqlite", "systems/notables.sqlite"),
        ("csv", "systems/no-csv"),
        ("csv", "systems/header-only.csv"),
        ("jsonl", "systems/blank.jsonl"),
    ]
    for system_type, location in cases:
        assert _error(tmp_path, system_type, location).code == "empty_system", location


def test_corrupt_parquet_csv_and_jsonl_files_are_coded_errors(tmp_path: Path) -> None:
    root = tmp_path / "systems"
    root.mkdir()
    (root / "bad.parquet").write_bytes(b"PAR1" + EMAIL.encode() * 20)
    (root / "bad.csv").write_bytes(b"email\n" + EMAIL.encode() + b"\xff\xfe\x00\n")
    (root / "bad.jsonl").write_text(f"{EMAIL} logged in\n{IBAN}\n")
    for system_type, location in [("parquet", "bad.parquet"), ("csv", "bad.csv"), ("jsonl", "bad.jsonl")]:
        err = _error(tmp_path, system_type, f"systems/{location}")
        assert err.code == "corrupt_file", location
        assert EMAIL not in str(err) and IBAN not in str(err)


@pytest.mark.parametrize("system_type", ["postgres", "source"])
def test_unsupported_system_types_are_refused(tmp_path: Path, system_type: str) -> None:
    location = "postgresql://scanner@db.internal/crm" if system_type == "postgres" else "systems"
    assert _error(tmp_path, system_type, location).code == "unsupported_system"


def test_bad_config_and_missing_system_are_coded_errors(tmp_path: Path) -> None:
    _sqlite(tmp_path / "systems" / "crm.sqlite")
    assert _error(tmp_path, "sqlite", "systems/crm.sqlite", sample_size=10_000_000).code == "bad_config"
    assert _error(tmp_path, "sqlite", "systems/crm.sqlite", shuffle=True).code == "bad_config"
    assert _error(tmp_path, "sqlite", "systems/crm.sqlite", phone_regions=["XX"]).code == "bad_config"
    ctx = _ctx(tmp_path, "sqlite", "systems/crm.sqlite")
    with pytest.raises(LoadError) as caught:
        run({}, {}, AnalyserContext(tenant="acme", run_id="r", step_id="s", systems=ctx.systems))
    assert caught.value.code == "no_system"
    with pytest.raises(LoadError) as caught:
        run({}, {}, None)
    assert caught.value.code == "no_system"


# --- packaging -------------------------------------------------------------------------------


def test_manifest_is_discovered_and_matches_the_config_model() -> None:
    manifest = Catalogue.discover().get("personal_data_scan")
    assert manifest is not None
    assert manifest.version == VERSION
    assert (manifest.input_schemas, manifest.output_schema, manifest.reads, manifest.uses_llm) == (
        [],
        "system_scan",
        "systems",
        "never",
    )
    props = manifest.config_schema["properties"]
    defaults = ScanConfig().model_dump()
    assert set(props) == set(defaults)
    for name, spec in props.items():
        assert spec["default"] == defaults[name], name
    with pytest.raises(ValueError):
        ScanConfig(sample_size=props["sample_size"]["maximum"] + 1)
    assert Catalogue.discover().load("personal_data_scan") is run


# --- a real graph run --------------------------------------------------------------------------


def _warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(WARDEN_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "warden", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_an_approved_runbook_step_scans_its_system_and_stores_masked_findings(tmp_path: Path) -> None:
    _sqlite(tmp_path / "systems" / "crm.sqlite")
    policy = yaml.safe_load((REPO / "fixtures" / "acme" / "policy.yaml").read_text())
    acme = policy["tenants"]["acme"]
    acme["allowed_roots"] = ["systems", str(REPO / "fixtures")]
    acme["document_roots"] = [str(REPO / "fixtures" / "acme")]
    acme["systems"] = [
        {"id": "crm", "type": "sqlite", "location": "systems/crm.sqlite", "owner": "sales@acme"}
    ]
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    runbook = {
        "runbook": "crm-scan",
        "version": 1,
        "tenant": "acme",
        "inputs": {"document": "document"},
        "approval": {"required_role": "dpo"},
        "steps": [
            {"id": "scan", "analyser": "personal_data_scan", "system": "crm", "config": {"sample_size": 5}}
        ],
    }
    (tmp_path / "crm-scan.yaml").write_text(yaml.safe_dump(runbook, sort_keys=False))
    home, pol = tmp_path / "home", str(tmp_path / "policy.yaml")
    notice = str(REPO / "fixtures" / "acme" / "notice.md")
    started = _warden(
        home, "analyse", notice, "--tenant", "acme", "--as", "ana@acme", "--json", "--policy", pol,
        "--runbook", str(tmp_path / "crm-scan.yaml"),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr + started.stdout
    run_id = json.loads(started.stdout.splitlines()[0])["run_id"]
    approved = _warden(home, "approve", run_id, "--as", "dora@acme", "--role", "dpo", "--policy", pol)
    assert approved.returncode == 0, approved.stderr + approved.stdout
    shown = _warden(home, "findings", run_id, "--json", "--policy", pol, "--as", "dora@acme")
    assert shown.returncode == 0, shown.stderr
    findings = json.loads(shown.stdout)
    assert {f["data_category"] for f in findings} >= {"user.contact.email", "user.financial.bank_account"}
    email = next(f for f in findings if f["data_category"] == "user.contact.email")
    assert email["details"]["sampled"] == 5 and email["evidence"][0]["quote"] == "j***@e***.org"
    for raw in PLANTED:
        assert raw not in shown.stdout
