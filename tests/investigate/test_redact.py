"""Redaction of exports: secrets and raw personal data go, the identifiers an auditor needs stay."""

from __future__ import annotations

import pytest

from warden.redaction import redact, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe@example.com today", "write to [redacted:email] today"),
        (
            "postgresql://warden:hunter2@db.internal:5432/w",
            "postgresql://warden:[redacted:password]@db.internal:5432/w",
        ),
        ("key sk-live-4f9XbQ2mR7tLzP0aW8cE here", "key [redacted:secret] here"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[redacted:secret]"),
        ("AKIAABCDEFGHIJKLMNOP", "[redacted:secret]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [redacted:secret]"),
        ("api_key=abc123xyz, other", "api_key=[redacted:secret], other"),
        ("password: 'p4ss w0rd' then", "password: [redacted:secret] then"),
        ("call +44 161 555 0100 or 0161 555 0100", "call [redacted:phone] or [redacted:phone]"),
        ("card 4111 1111 1111 1111 on file", "card [redacted:card] on file"),
        ("pay to GB82 WEST 1234 5698 7654 32", "pay to [redacted:iban]"),
        ("pay to DE89370400440532013000", "pay to [redacted:iban]"),
    ],
)
def test_secrets_and_personal_data_are_replaced_by_typed_markers(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "dora@acme",  # a policy user id: "who approved" must survive
        "9e0ed449139156715a53f8f8ca04bd07d9c49dd4fcf55ea646a81cb7952ded27",
        "run-8e357ccd55db.checks",
        "2026-11-21T00:56:24.711415Z",
        "company number 12345678",
        "4111 1111 1111 1112",  # fails the Luhn check: not a card
        "GB00 WEST 1234 5698 7654 32",  # fails the IBAN checksum
        "0.3852 seconds, max_duration_s: 3600",
        "https://llm.internal.example:8000/v1",
    ],
)
def test_identifiers_hashes_times_and_near_misses_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_redact_walks_nested_data_and_blanks_secret_named_keys() -> None:
    data = {
        "comment": "ask jane.doe@example.com",
        "OPENAI_API_KEY": "anything-at-all",
        "db_password": "x",
        "tokens_in": 12,
        "policy_sha256": "abc",
        "steps": [{"note": "IBAN DE89370400440532013000"}, 3, None],
        "api_key": None,
    }
    assert redact(data) == {
        "comment": "ask [redacted:email]",
        "OPENAI_API_KEY": "[redacted:secret]",
        "db_password": "[redacted:secret]",
        "tokens_in": 12,
        "policy_sha256": "abc",
        "steps": [{"note": "IBAN [redacted:iban]"}, 3, None],
        "api_key": None,
    }
