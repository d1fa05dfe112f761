"""Runbooks as data: parse, dump, hash, and resolve template references."""

from warden.runbooks.diff import change_summary, diff_runbooks
from warden.runbooks.hashing import canonical_json, sha256_of
from warden.runbooks.load import dump_runbook, parse_runbook, read_runbook, runbook_from_data
from warden.runbooks.templates import Reference, iter_strings, looks_like_template, parse_reference

__all__ = [
    "Reference",
    "canonical_json",
    "change_summary",
    "diff_runbooks",
    "dump_runbook",
    "iter_strings",
    "looks_like_template",
    "parse_reference",
    "parse_runbook",
    "read_runbook",
    "runbook_from_data",
    "sha256_of",
]
