"""Value validators: each says whether one sampled value is what it claims to be.

Checksummed identifiers go through python-stdnum and card numbers through its Luhn check;
phone numbers through phonenumbers; IP addresses through ipaddress. A value that has the
right shape but a bad checksum is not a match. Regexes are used only for shape, never alone
where a validator exists.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Sequence

import phonenumbers
from stdnum import iban, imei, luhn
from stdnum.be import nn as be_nn
from stdnum.de import idnr as de_idnr
from stdnum.dk import cpr as dk_cpr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.eu import vat as eu_vat
from stdnum.fi import hetu as fi_hetu
from stdnum.fr import nir as fr_nir
from stdnum.gb import nhs as gb_nhs
from stdnum.gb import utr as gb_utr
from stdnum.gb import vat as gb_vat
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.pl import pesel as pl_pesel
from stdnum.se import personnummer as se_pnr
from stdnum.us import itin as us_itin
from stdnum.us import ssn as us_ssn
from warden_analysers.personal_data_scan.detectors.vocab import in_vocabulary

__all__ = [
    "CARD_FIND",
    "EMAIL_FIND",
    "IBAN_FIND",
    "IPV4_FIND",
    "Check",
    "is_address",
    "is_birth_date",
    "is_card",
    "is_coordinate",
    "is_coordinate_pair",
    "is_dna",
    "is_email",
    "is_eu_vat",
    "is_formatted_ssn",
    "is_genotype",
    "is_iban",
    "is_icd10",
    "is_imei",
    "is_ip",
    "is_itin",
    "is_mac",
    "is_person_name",
    "is_postcode",
    "is_uk_nino",
    "is_uuid",
    "phone_check",
    "stdnum_check",
    "vocabulary",
]

Check = Callable[[str], bool]

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)
EMAIL_FIND = re.compile(r"(?<![\w.@+-])" + _EMAIL.pattern + r"(?![\w@-])")
IBAN_FIND = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
IPV4_FIND = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
CARD_FIND = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def is_email(value: str) -> bool:
    """An address with a plausible local part and a domain ending in a letters-only TLD."""
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        return False
    return len(value.rpartition("@")[0]) <= 64


_IBAN_SHAPE = re.compile(r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_ITIN_SHAPE = re.compile(r"9\d{2}-\d{2}-\d{4}")
_VAT_SHAPE = re.compile(r"[A-Z]{2}[0-9A-Z+*]{2,13}")
_PAIR = re.compile(r"\(?\s*(-?\d{1,2}\.\d{4,})\s*[,; ]\s*(-?\d{1,3}\.\d{4,})\s*\)?")
_DNA = re.compile(r"[ACGTN]+")
_PHONE_SHAPE = re.compile(r"\+?[\d\s().\-/]{6,24}")
# Shapes that are something else: decimal numbers, dotted quads, dates.
_NOT_PHONE = re.compile(
    r"-?\d+\.\d+|\d{1,3}(?:\.\d{1,3}){3}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
)


def phone_check(regions: Sequence[str]) -> Check:
    """A validator for phone numbers: international ones always, national ones in `regions`.

    A bare run of digits without a '+', a leading 0 or separators is an id, not a phone
    number, however many regions would accept it.
    """

    def is_phone(value: str) -> bool:
        if not _PHONE_SHAPE.fullmatch(value) or _NOT_PHONE.fullmatch(value):
            return False
        digits = sum(ch.isdigit() for ch in value)
        if not 7 <= digits <= 15:
            return False
        if value.startswith(("+", "00")):
            text = "+" + value[2:] if value.startswith("00") else value
            candidates: list[str | None] = [None]
        else:
            if value.isdigit() and not value.startswith("0"):
                return False
            text, candidates = value, list(regions)
        for region in candidates:
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
        return False

    return is_phone


_CARD_SHAPE = re.compile(r"\d(?:[ -]?\d){12,18}")
# (prefix range low, high, allowed lengths) of the major card schemes' issuer numbers.
_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (6011, 6011, frozenset({16, 17, 18, 19})),  # Discover
    (644, 649, frozenset({16, 17, 18, 19})),
    (65, 65, frozenset({16, 17, 18, 19})),
    (3528, 3589, frozenset({16, 17, 18, 19})),  # JCB
    (300, 305, frozenset({14, 16, 17, 18, 19})),  # Diners Club
    (36, 36, frozenset({14, 16, 17, 18, 19})),
    (38, 39, frozenset({16, 17, 18, 19})),
    (62, 62, frozenset({16, 17, 18, 19})),  # UnionPay
    (50, 50, frozenset(range(12, 20))),  # Maestro
    (56, 69, frozenset(range(12, 20))),
)


def is_card(value: str) -> bool:
    """A payment card number: a known issuer range and length, and a valid Luhn check digit."""
    if not _CARD_SHAPE.fullmatch(value):
        return False
    digits = re.sub(r"\D", "", value)
    if len(set(digits)) < 2:  # 0000 0000 0000 0000 passes Luhn and is no card
        return False
    in_range = any(
        lo <= int(digits[: len(str(lo))]) <= hi and len(digits) in lengths for lo, hi, lengths in _CARD_RANGES
    )
    return in_range and luhn.is_valid(digits)


def is_iban(value: str) -> bool:
    """An IBAN whose country format and mod-97 check digits are valid."""
    if len(value) > 42 or not _IBAN_SHAPE.fullmatch(value):
        return False
    return iban.is_valid(value)


def is_ip(value: str) -> bool:
    """An IPv4 address in dotted-quad form or an IPv6 address (not the unspecified address)."""
    if not (":" in value or value.count(".") == 3) or len(value) > 45:
        return False
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not address.is_unspecified


_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")


def is_mac(value: str) -> bool:
    """A MAC address with one separator throughout, not all zeros nor the broadcast address."""
    if not _MAC.fullmatch(value):
        return False
    compact = re.sub(r"[:-]", "", value).lower()
    return compact not in ("000000000000", "ffffffffffff")


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """A UUID (advertising ids, IDFA and GAID are UUIDs); only counted in columns named for it."""
    return bool(_UUID.fullmatch(value)) and set(value) - {"0", "-"} != set()


def is_imei(value: str) -> bool:
    """A 15-digit IMEI with a valid Luhn check digit."""
    return value.isdigit() and len(value) == 15 and imei.is_valid(value)


def stdnum_check(module: object, shape: str | None = None) -> Check:
    """A python-stdnum ``is_valid``, optionally only for values of a given shape (regex)."""
    pattern = re.compile(shape) if shape else None
    validate: Callable[[str], bool] = module.is_valid  # type: ignore[attr-defined]

    def check(value: str) -> bool:
        if len(value) > 40 or (pattern is not None and not pattern.fullmatch(value)):
            return False
        return bool(validate(value))

    return check


def is_formatted_ssn(value: str) -> bool:
    """A US SSN written ``123-45-6789`` (bare nine digits are too common to mean an SSN)."""
    return bool(_SSN_SHAPE.fullmatch(value)) and us_ssn.is_valid(value)


def is_itin(value: str) -> bool:
    """A US ITIN written ``9XX-XX-XXXX``."""
    return bool(_ITIN_SHAPE.fullmatch(value)) and us_itin.is_valid(value)


# HMRC's rules: no D, F, I, Q, U, V; O not second; the prefixes BG GB KN NK NT TN ZZ never issued.
_NINO = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?(?:\d{2}\s?){3}[A-D]")


def is_uk_nino(value: str) -> bool:
    """A UK National Insurance number by HMRC's allocation rules (it has no check digit)."""
    return bool(_NINO.fullmatch(value.upper()))


def is_eu_vat(value: str) -> bool:
    """A VAT number with its country prefix (EU members and GB), checksum verified."""
    if not 4 <= len(value) <= 20 or not value[:2].isalpha():
        return False
    compact = re.sub(r"[\s.-]", "", value).upper()
    if not _VAT_SHAPE.fullmatch(compact) or compact.isalpha():
        return False
    if compact.startswith("GB"):
        return bool(gb_vat.is_valid(compact))
    return bool(eu_vat.is_valid(compact))


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y")


def is_birth_date(value: str) -> bool:
    """A calendar date between 1900 and today (a timestamp's date part counts)."""
    text = value[:10] if re.match(r"\d{4}-\d{2}-\d{2}[T ]", value) else value
    for fmt in _DATE_FORMATS:
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return dt.date(1900, 1, 1) <= day <= dt.date.today()
    return False


_NUMBER = re.compile(r"-?\d{1,3}\.(\d{3,})")


def is_coordinate(value: str) -> bool:
    """One latitude or longitude in decimal degrees with at least three decimals (~100 m)."""
    if not _NUMBER.fullmatch(value):
        return False
    return abs(float(value)) <= 180


def is_coordinate_pair(value: str) -> bool:
    """``lat, lon`` in decimal degrees, both with at least four decimals and in range."""
    match = _PAIR.fullmatch(value)
    if not match:
        return False
    lat, lon = float(match.group(1)), float(match.group(2))
    return abs(lat) <= 90 and abs(lon) <= 180 and not (lat == 0 and lon == 0)


_PERSON = re.compile(r"[^\W\d_][^\W\d_'’.-]*(?:[ '’.-]+[^\W\d_][^\W\d_'’.-]*){0,4}\.?", re.UNICODE)


def is_person_name(value: str) -> bool:
    """Up to five capitalised words of letters: 'Jane', 'Jean-Luc Picard', "Seán O'Brien"."""
    return 2 <= len(value) <= 60 and bool(_PERSON.fullmatch(value)) and value[0].isupper()


def is_address(value: str) -> bool:
    """Free text with a number and at least one word: '221B Baker Street', 'Hauptstr. 5'."""
    return (
        5 <= len(value) <= 200 and bool(re.search(r"\d", value)) and bool(re.search(r"[^\W\d_]{3,}", value))
    )


_POSTCODES = re.compile(
    r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"  # UK
    r"|\d{5}(?:-\d{4})?"  # US ZIP, DE, FR, ES, IT
    r"|\d{4} ?[A-Z]{2}"  # NL
    r"|[A-Z]\d[A-Z] ?\d[A-Z]\d"  # CA
    r"|\d{3} ?\d{2}|\d{4}"  # SE, and four-digit codes (AT, BE, CH, DK, ...)
)


def is_postcode(value: str) -> bool:
    """A postal code in a common national format."""
    return bool(_POSTCODES.fullmatch(value.upper()))


def is_icd10(value: str) -> bool:
    """An ICD-10 diagnosis code: 'E11', 'E11.9', 'J45.909'."""
    return bool(re.fullmatch(r"[A-TV-Z]\d[0-9AB](?:\.[0-9A-TV-Z]{1,4})?", value.upper()))


def is_dna(value: str) -> bool:
    """A nucleotide sequence of at least 20 bases."""
    return len(value) >= 20 and bool(_DNA.fullmatch(value.upper())) and len(set(value.upper())) >= 3


def is_genotype(value: str) -> bool:
    """A SNP genotype call: 'AG', 'rs53576 AG', 'rs53576:GG'."""
    return bool(re.fullmatch(r"(?:rs\d{2,10}\s*[:= ]?\s*)?[ACGT]{2}|rs\d{2,10}", value, re.IGNORECASE))


def vocabulary(terms: frozenset[str]) -> Check:
    """A check that the value is one of `terms` (or a short list of them)."""
    return lambda value: in_vocabulary(value, terms)


# Checksummed national and tax numbers; the shapes keep a validator to the form it documents.
SE_PERSONNUMMER = stdnum_check(se_pnr, r"\d{6}[-+]\d{4}|\d{8}-\d{4}")
FI_HETU = stdnum_check(fi_hetu, r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]")
ES_DNI = stdnum_check(es_dni, r"\d{8}-?[A-Za-z]")
ES_NIE = stdnum_check(es_nie, r"[XYZxyz]-?\d{7}-?[A-Za-z]")
IT_CODICE_FISCALE = stdnum_check(it_cf, r"[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]")
FR_NIR = stdnum_check(fr_nir, r"[12]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}\s?\d{2}")
NL_BSN = stdnum_check(nl_bsn, r"\d{9}|\d{4}\.\d{2}\.\d{3}")
DE_IDNR = stdnum_check(de_idnr, r"\d{11}|\d{2} \d{3} \d{3} \d{3}")
PL_PESEL = stdnum_check(pl_pesel, r"\d{11}")
BE_NN = stdnum_check(be_nn, r"\d{11}|\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}")
DK_CPR = stdnum_check(dk_cpr, r"\d{6}-?\d{4}")
US_SSN_COMPACT = stdnum_check(us_ssn, r"\d{9}|\d{3}-\d{2}-\d{4}")
GB_UTR = stdnum_check(gb_utr, r"\d{10}")
GB_NHS = stdnum_check(gb_nhs, r"\d{10}|\d{3} \d{3} \d{4}")
