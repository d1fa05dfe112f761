"""Every detector the scanner runs, each mapped to one fideslang data-category key.

Keys follow the ones ``policy_practices`` extracts from notices
(``analysers/policy_practices/rules/data_categories.yaml``), so ``disclosure_gap`` can compare
what a system holds with what its notice says. Every key exists in fideslang's default
taxonomy (a test checks it).

A detector has up to three kinds of evidence:

- ``check``: a validator good enough on its own (an IBAN's checksum): *value* evidence.
- ``lenient``: a weaker validator that counts only where the name agrees (nine digits with a
  valid BSN checksum are only a BSN in a column called ``bsn``).
- ``names``: column, field or key names that say what the location holds.

``lenient_names`` narrows where ``lenient`` applies: nine digits in a column called ``bsn``
are checked as a BSN, not as a US SSN (both checksums can pass).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from warden_analysers.personal_data_scan import masking
from warden_analysers.personal_data_scan.detectors import validators as v
from warden_analysers.personal_data_scan.detectors import vocab
from warden_analysers.personal_data_scan.detectors.names import NameRule

__all__ = ["DEFAULT_REGIONS", "Detector", "build_detectors", "emitted_keys"]

DEFAULT_REGIONS = ("GB", "US", "DE", "FR")


@dataclass(frozen=True)
class Detector:
    """One kind of personal data: how to recognise it, what it is called in fideslang, how to
    mask it."""

    name: str
    key: str
    names: tuple[NameRule, ...] = ()
    check: v.Check | None = None
    lenient: v.Check | None = None
    lenient_names: tuple[NameRule, ...] | None = None
    find: re.Pattern[str] | None = None
    find_hint: str = ""
    mask: Callable[[str], str] = masking.mask_generic
    special: bool = False


def _n(pattern: str, unless: str | None = None, table: str | None = None) -> tuple[NameRule, ...]:
    return (NameRule(pattern, unless, table),)


_PEOPLE_TABLES = r"_(users?|customers?|clients?|members?|people|persons?|employees?|staff|patients?|contacts?"
_PEOPLE_TABLES += (
    r"|accounts?|subscribers?|students?|applicants?|candidates?|guests?|visitors?|leads?|profiles?)_"
)
_NATIONAL_ID = (
    r"_(national_?id|national_identification(_number)?|nin|ssn|social_security(_number|_no)?|bsn"
    r"|burgerservicenummer|personnummer|pesel|cpr(_number)?|nir|insee|nino|ni_number"
    r"|national_insurance(_number|_no)?|personal_id(_number)?|id_number|identity_number|idnr"
    r"|dni|nie|codice_fiscale|hetu|rijksregisternummer)_$"
)
_TAX_ID = (
    r"_(tax_?id|tin|tax_(number|no|ref|reference|code)|utr|vat(_id|_number|_no|_reg(istration)?)?|itin"
    r"|steuer_?id|steuernummer|ust_?id(nr)?|ust_id_nr)_$"
)


def build_detectors(phone_regions: Sequence[str] = DEFAULT_REGIONS) -> tuple[Detector, ...]:
    """The detectors of one scan (the phone validator depends on the configured regions)."""
    national = _n(_NATIONAL_ID)
    tax = _n(_TAX_ID)
    nat_key = "user.government_id.national_identification_number"
    return (
        # Contact data
        Detector(
            "email",
            "user.contact.email",
            _n(r"_e_?mail(_address|_addr)?_$|_mail_?address_$"),
            check=v.is_email,
            find=v.EMAIL_FIND,
            find_hint="@",
            mask=masking.mask_email,
        ),
        Detector(
            "phone",
            "user.contact.phone_number",
            _n(r"_(phone|telephone|tel|mobile|cell|cellphone|handy|msisdn|fax)(_?(number|no|num|nr))?_$"),
            check=v.phone_check(phone_regions),
            mask=masking.mask_phone,
        ),
        Detector(
            "postal-address",
            "user.contact.address",
            _n(
                r"_(address|addr|street|street_address|address_line_?\d?|addr_?line_?\d?"
                r"|house_number|strasse|adresse)_$",
                unless=r"_(ip|mac|email|e_mail|mail|wallet|web|url|server|host|bitcoin|eth)_",
            ),
            lenient=v.is_address,
            mask=masking.mask_words,
        ),
        Detector(
            "postcode",
            "user.contact.address.postal_code",
            _n(r"_(post_?code|postal_?code|zip|zip_?code|plz)_$"),
            lenient=v.is_postcode,
            mask=masking.mask_full,
        ),
        Detector(
            "city",
            "user.contact.address.city",
            _n(r"_(city|town|ort|ville)_$") + _n(r"_(billing|shipping|home|user|customer)_city_$"),
            lenient=v.is_person_name,  # a capitalised word or two, like a name
            mask=masking.mask_words,
        ),
        # Names and demographics
        Detector(
            "person-name",
            "user.name",
            _n(
                r"_(first|last|given|family|full|middle|sur|fore|maiden|legal|real|contact|customer"
                r"|patient|user|account_holder|card_holder|cardholder)_?names?_$|_(surname|forename|vorname"
                r"|nachname|nom|prenom)_$",
                unless=r"_(user_?name|file|host|domain|product|company|business|table|column|display_name)_$",
            )
            + _n(r"^_name_$", table=_PEOPLE_TABLES),
            lenient=v.is_person_name,
            mask=masking.mask_words,
        ),
        Detector(
            "date-of-birth",
            "user.demographic.date_of_birth",
            _n(
                r"_(dob|date_?of_?birth|birth_?date|birthday|birth_?day|born(_on)?|geburtsdatum|date_naissance)_$"
            ),
            lenient=v.is_birth_date,
            mask=masking.mask_full,
        ),
        Detector(
            "gender",
            "user.demographic.gender",
            _n(r"_(gender|sex)_$"),
            lenient=v.vocabulary(vocab.GENDER_NAMED),
            mask=masking.mask_full,
        ),
        # Government and tax identifiers
        Detector(
            "us-ssn",
            nat_key,
            national,
            check=v.is_formatted_ssn,
            lenient=v.US_SSN_COMPACT,
            lenient_names=_n(r"_(ssn|social_security(_number|_no)?)_$"),
        ),
        Detector("uk-nino", nat_key, national, check=v.is_uk_nino),
        Detector("es-dni", nat_key, national, check=v.ES_DNI),
        Detector("es-nie", nat_key, national, check=v.ES_NIE),
        Detector("it-codice-fiscale", nat_key, national, check=v.IT_CODICE_FISCALE),
        Detector("se-personnummer", nat_key, national, check=v.SE_PERSONNUMMER),
        Detector("fi-hetu", nat_key, national, check=v.FI_HETU),
        Detector(
            "fr-nir",
            nat_key,
            national,
            lenient=v.FR_NIR,
            lenient_names=_n(r"_(nir|insee|secu|securite_sociale|numero_secu)_$"),
        ),
        Detector(
            "nl-bsn",
            nat_key,
            national,
            lenient=v.NL_BSN,
            lenient_names=_n(r"_(bsn|burgerservicenummer|sofi(_nummer)?)_$"),
        ),
        Detector("pl-pesel", nat_key, national, lenient=v.PL_PESEL, lenient_names=_n(r"_pesel_$")),
        Detector(
            "be-nn",
            nat_key,
            national,
            lenient=v.BE_NN,
            lenient_names=_n(r"_(rijksregisternummer|insz|niss|national_number)_$"),
        ),
        Detector("dk-cpr", nat_key, national, lenient=v.DK_CPR, lenient_names=_n(r"_cpr(_number|_nr)?_$")),
        Detector(
            "de-idnr",
            "user.government_id",
            national + tax,
            lenient=v.DE_IDNR,
            lenient_names=_n(r"_(idnr|steuer_?id|steuer_identifikationsnummer|tax_?id)_$"),
        ),
        Detector("vat", "user.government_id", tax, check=v.is_eu_vat),
        Detector("us-itin", "user.government_id", tax, check=v.is_itin),
        Detector("uk-utr", "user.government_id", tax, lenient=v.GB_UTR, lenient_names=_n(r"_(utr|sa_utr)_$")),
        Detector(
            "passport",
            "user.government_id.passport_number",
            _n(r"_passport(_?(number|no|num|nr|id))?_$|_reisepass(nummer)?_$"),
        ),
        Detector(
            "drivers-licence",
            "user.government_id.drivers_license_number",
            _n(r"_(drivers?_?licen[cs]e|driving_licen[cs]e|dl)(_?(number|no|num|nr|id))?_$|_fuehrerschein_"),
        ),
        # Payment data
        Detector(
            "iban",
            "user.financial.bank_account",
            _n(r"_(iban|bank_?account(_?(number|no|num|nr))?|account_?number|bic_iban)_$"),
            check=v.is_iban,
            find=v.IBAN_FIND,
            mask=masking.mask_iban,
        ),
        Detector(
            "luhn",
            "user.financial.credit_card",
            _n(r"_(card|credit_?card|debit_?card|cc|pan|payment_?card)(_?(number|no|num|nr))?_$"),
            check=v.is_card,
            find=v.CARD_FIND,
            mask=masking.mask_card,
        ),
        # Online and device identifiers
        Detector(
            "ip-address",
            "user.device.ip_address",
            _n(
                r"_(ip|ip_?addr(ess)?|ipv4|ipv6|client_?ip|remote_?addr(ess)?|x_forwarded_for|source_ip|src_ip)_$"
            ),
            check=v.is_ip,
            find=v.IPV4_FIND,
            find_hint=".",
            mask=masking.mask_ip,
        ),
        Detector(
            "mac-address",
            "user.device.device_id",
            _n(r"_(mac|mac_?addr(ess)?|hw_?addr(ess)?|bssid)_$"),
            check=v.is_mac,
            mask=masking.mask_hex,
        ),
        Detector(
            "advertising-id",
            "user.device.device_id",
            _n(
                r"_(device_?id|idfa|idfv|gaid|aaid|adid|ad_?id|advertising_?id|ad_?identifier|udid"
                r"|install(ation)?_?id|android_?id|device_?uuid|hardware_?id)_$"
            ),
            lenient=v.is_uuid,
            mask=masking.mask_hex,
        ),
        Detector("imei", "user.device.device_id", _n(r"_(imei|imeisv)(_?(number|no))?_$"), lenient=v.is_imei),
        # Location
        Detector(
            "coordinates",
            "user.location.precise",
            _n(r"_(lat|latitude|lng|lon|long|longitude|geo_?lat|geo_?lng|geo_?lon)_$")
            + _n(r"_(geo_?location|geo|coordinates?|coords|lat_?lng|lat_?lon|latlong|gps|position)_$"),
            check=v.is_coordinate_pair,
            lenient=v.is_coordinate,
            mask=masking.mask_coordinate,
        ),
        # Special categories (GDPR Art. 9): names first, then vocabularies and code formats
        Detector(
            "health",
            "user.health_and_medical",
            _n(
                r"_(health|health_?(status|condition|data|issues?)|diagnos[ie]s|diagnosis_?code|icd(_?10)?"
                r"|icd_?code|medical(_?(condition|history|notes?|record))?|conditions?|medications?"
                r"|prescriptions?|allerg(y|ies)|disabilit(y|ies)|blood_?type|symptoms?|treatments?"
                r"|illness|disease|vaccination(_status)?|pregnan(t|cy))_$",
                unless=r"_(terms_and_conditions|condition_?id|weather)_",
            ),
            check=v.vocabulary(vocab.CONDITIONS),
            lenient=v.is_icd10,
            mask=masking.mask_words,
            special=True,
        ),
        Detector(
            "medical-record-id",
            "user.health_and_medical.record_id",
            _n(r"_(nhs_?(number|no)?|mrn|medical_?record_?(number|no|id)|patient_?id|chi_?number)_$"),
            lenient=v.GB_NHS,
            special=True,
        ),
        Detector(
            "genetic",
            "user.health_and_medical.genetic",
            _n(r"_(genetic\w*|dna(_?sequence)?|genotypes?|genome|snps?|rsids?|gene_?variants?|alleles?)_$"),
            check=v.is_dna,
            lenient=v.is_genotype,
            mask=masking.mask_full,
            special=True,
        ),
        Detector(
            "biometric",
            "user.biometric",
            _n(
                r"_(biometrics?(_?(template|data|hash))?|face_?(template|embedding|encoding|print|vector)"
                r"|faceprint|facial_?(geometry|features?|template))_$"
            ),
            special=True,
        ),
        Detector(
            "fingerprint",
            "user.biometric.fingerprint",
            _n(r"_(fingerprints?|finger_?print(_?(template|hash|data))?|palm_?print)_$"),
            special=True,
        ),
        Detector(
            "retina",
            "user.biometric.retinal",
            _n(r"_(iris|retina|retinal)(_?(scan|template|code|data))?_$"),
            special=True,
        ),
        Detector(
            "voiceprint",
            "user.biometric.voice",
            _n(r"_(voice_?print|voice_?(template|embedding|signature|sample))_$"),
            special=True,
        ),
        Detector(
            "religion",
            "user.demographic.religious_belief",
            _n(
                r"_(religion|religious(_?(belief|affiliation|denomination))?|faith|denomination|konfession)_$"
            ),
            check=v.vocabulary(vocab.RELIGION),
            mask=masking.mask_words,
            special=True,
        ),
        Detector(
            "ethnicity",
            "user.demographic.race_ethnicity",
            _n(r"_(ethnicity|ethnic(_?(origin|group|background))?|race|racial_?origin)_$"),
            lenient=v.vocabulary(vocab.ETHNICITY_NAMED),
            mask=masking.mask_words,
            special=True,
        ),
        Detector(
            "political-opinion",
            "user.demographic.political_opinion",
            _n(
                r"_(political(_?(opinion|views?|affiliation|party|leaning|orientation))?|party_?affiliation)_$"
            ),
            lenient=v.vocabulary(vocab.POLITICAL_NAMED),
            mask=masking.mask_words,
            special=True,
        ),
        # fideslang has no trade-union key; membership is a demographic attribute in its tree.
        Detector(
            "trade-union",
            "user.demographic",
            _n(
                r"_(trade_?union(_?(member(ship)?|name))?|union_?member(ship)?|labou?r_?union|gewerkschaft)_$"
            ),
            special=True,
        ),
        Detector(
            "sexual-orientation",
            "user.demographic.sexual_orientation",
            _n(r"_(sexual_?orientation|orientation|sexuality|sex_?life)_$"),
            check=v.vocabulary(vocab.ORIENTATION),
            lenient=v.vocabulary(vocab.ORIENTATION_NAMED),
            mask=masking.mask_words,
            special=True,
        ),
    )


def emitted_keys() -> frozenset[str]:
    """Every fideslang key this scanner can report."""
    return frozenset(d.key for d in build_detectors())
