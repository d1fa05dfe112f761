"""The record of processing activities (GDPR Art. 30(1)) a run tree's evidence supports.

One activity per system and processing purpose. The purposes are the clauses of the notice's
passages labelled ``processing_purpose`` ("to process and deliver your orders, to take
payment ..." gives one purpose per "to ..." clause); a purpose belongs to a system when the
clause shares a word with the system's id, description or tags in the tenant's inventory (a
system no purpose mentions gets one activity whose purpose is a gap). Every field lists its
values, each with its source:

- ``purposes``: the purpose clause (passage id and quote);
- ``data_subjects``: the kinds of people the notice names (customers, website visitors,
  subscribers, employees, ...): in the purpose clause when it names them, else anywhere in
  the notice (passage and sentence);
- ``data_categories``: fideslang keys the scans found in the system (``personal_data_scan``
  findings; the data a ``third_party_scan`` recipient receives), each citing its finding;
  a system no scan read falls back to the categories the notice names (passage);
- ``recipients``: the third parties the system's code sends data to (``third_party_scan``
  findings) and the sentences about sharing or disclosure in the notice's passages labelled
  ``recipients``;
- ``transfers``: recipients outside the EEA and UK (findings) and the sentences about
  transfers in the notice's passages labelled ``international_transfer``;
  ``transfer_safeguards``: the sentences of those passages naming a safeguard (SCCs,
  adequacy, binding corporate rules, the UK addendum, ...);
- ``retention``: passages labelled ``retention``;
- ``security_measures``: passages labelled ``security``, else sentences naming a technical or
  organisational measure (encryption, pseudonymisation, access control, ...).

A field neither source supplies is a **gap** (``gap: true``); the gap findings that show why
(e.g. ``gap.retention_undisclosed`` for the system) are listed with it.

Values shared by many activities are listed **once**: what the notice says as a whole (the
last five fields' passages and sentences, the data subjects a clause does not name itself,
the categories of a system no scan read) under the record's ``notice``, and what the scans
found in a system (its categories, recipients, transfers) under ``systems[system_id]``. An
activity's field holds its own values (its purpose clause, the subjects the clause names),
``system_values`` and ``notice_values``: how many of those shared lists apply to it (all or
none). Copying them into every activity made the record grow with the product of the
notice's purpose clauses and its retention or security text: a 57 KB notice gave 71 MB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from warden.investigate.source import Source
from warden.store import reads

__all__ = ["FIELDS", "NOTICE_ROW", "SystemInfo", "build_ropa", "ropa_csv", "ropa_html"]

FIELDS: tuple[str, ...] = (
    "purposes",
    "data_subjects",
    "data_categories",
    "recipients",
    "transfers",
    "transfer_safeguards",
    "retention",
    "security_measures",
)
"""The Art. 30(1) fields of an activity, in the order every format shows them."""

_GAP_CODES = {
    "retention": ("gap.retention_undisclosed", "gdpr.missing.retention"),
    "recipients": ("gap.undisclosed_recipient", "gdpr.missing.recipients"),
    "transfers": ("gap.undisclosed_transfer", "gdpr.missing.international_transfer"),
    "transfer_safeguards": ("gdpr.missing.international_transfer",),
    "purposes": ("gdpr.missing.processing_purpose",),
    "data_categories": ("gap.undisclosed_collection",),
}

_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("customers", r"\bcustomers?\b|\bbuy(?:ers?)?\b|\bpurchasers?\b"),
    ("website visitors", r"\bvisitors?\b|\bbrowse\b|\bvisit our (?:web)?site\b"),
    ("account holders", r"\baccount holders?\b|\bcreate an account\b"),
    ("subscribers", r"\bsubscribers?\b|\bnewsletter\b"),
    ("employees", r"\bemployees?\b|\bour staff\b|\bworkers?\b"),
    ("job applicants", r"\bapplicants?\b|\bcandidates?\b"),
    ("children", r"\bchildren\b|\bminors?\b"),
)
_SAFEGUARD = re.compile(
    r"standard contractual clauses|\bSCCs?\b|adequacy|binding corporate rules|\bBCRs?\b|"
    r"international data transfer (?:addendum|agreement)|data privacy framework|safeguards?",
    re.IGNORECASE,
)
_SHARING = re.compile(r"\bshar(?:e|ed|ing)\b|\bdisclos\w*|\brecipients?\b|\bsell\b", re.IGNORECASE)
_TRANSFER = re.compile(r"\btransfer\w*|\boutside the (?:EEA|UK|European)\w*|\bthird countr\w*", re.IGNORECASE)
_SECURITY = re.compile(
    r"encrypt\w*|pseudonymi[sz]\w*|access control\w*|two-factor|multi-factor|firewall\w*|"
    r"security measures?|secure servers?|penetration test\w*",
    re.IGNORECASE,
)
_STOP = frozenset(
    {"and", "the", "our", "your", "for", "with", "from", "that", "this", "into", "data", "code"}
    | {"source", "web", "use", "used", "using", "system", "are", "was", "you", "can"}
)


@dataclass(frozen=True)
class SystemInfo:
    """What the tenant's inventory says about a system (the policy the run is bound to)."""

    id: str
    type: str
    description: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _words(text: str) -> set[str]:
    found = {w.rstrip("s") for w in re.findall(r"[a-z]{3,}", text.lower())}
    return found - _STOP


def _passage_source(passage: dict[str, Any], document: str, quote: str) -> dict[str, Any]:
    return {"kind": "passage", "passage_id": passage["id"], "document": document, "quote": quote}


def _finding_source(f: dict[str, Any]) -> dict[str, Any]:
    where = next((e.get("location") for e in f["evidence"] if e.get("location")), None)
    return {
        "kind": "finding",
        "finding_id": f["finding_id"],
        "run_id": f["run_id"],
        "code": f["code"],
        "location": where,
    }


def _purposes(passages: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    """One entry per "to ..." clause of each purpose passage (the passage itself when it has none)."""
    out: list[dict[str, Any]] = []
    for passage, document in passages:
        if "processing_purpose" not in {lab["label"] for lab in passage["labels"]}:
            continue
        for sentence in _sentences(passage["text"]):
            clauses = [
                c.strip(" ,;.")
                for c in re.split(r"(?:,|;)\s*(?:and\s+)?(?=to\s)|\s+and\s+(?=to\s)", sentence)
            ]
            first = re.search(r"\bto\s", clauses[0]) if clauses else None
            if first:
                clauses[0] = clauses[0][first.start() :]
            for clause in clauses:
                if clause.lower().startswith("to "):
                    out.append({"value": clause, "source": _passage_source(passage, document, clause)})
            if not any(c.lower().startswith("to ") for c in clauses):
                out.append({"value": sentence, "source": _passage_source(passage, document, sentence)})
    return out


def _labelled(passages: list[tuple[dict[str, Any], str]], label: str) -> list[tuple[dict[str, Any], str]]:
    return [(p, d) for p, d in passages if label in {lab["label"] for lab in p["labels"]}]


def _whole(passages: Iterable[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    return [{"value": p["text"], "source": _passage_source(p, d, p["text"])} for p, d in passages]


def _matching_sentences(
    passages: Iterable[tuple[dict[str, Any], str]], pattern: re.Pattern[str]
) -> list[dict[str, Any]]:
    out = []
    for p, d in passages:
        for sentence in _sentences(p["text"]):
            if pattern.search(sentence):
                out.append({"value": sentence, "source": _passage_source(p, d, sentence)})
    return out


def _subjects(text_sources: list[tuple[dict[str, Any], str]], where: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, cue in _SUBJECTS:
        pattern = re.compile(cue, re.IGNORECASE)
        if where is not None and pattern.search(where):
            continue  # handled by the caller's clause
        for p, d in text_sources:
            sentence = next((s for s in _sentences(p["text"]) if pattern.search(s)), None)
            if sentence and name not in seen:
                seen.add(name)
                out.append({"value": name, "source": _passage_source(p, d, sentence)})
    return out


def _unique(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique, seen = [], set()
    for v in values:
        key = (v["value"], json.dumps(v["source"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            unique.append(v)
    return unique


def _field(
    values: list[dict[str, Any]],
    gap_findings: list[dict[str, Any]] | None = None,
    *,
    system: list[dict[str, Any]] | None = None,
    notice: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An activity's field: its own values, and how many of its system's values and of the
    notice-wide values (each listed once in the record) apply to it; a gap when it has none."""
    unique = _unique(values)
    field: dict[str, Any] = {
        "values": unique,
        "system_values": len(system or []),
        "notice_values": len(notice or []),
    }
    field["gap"] = not unique and not system and not notice
    if field["gap"]:
        field["gap_findings"] = [f["finding_id"] for f in gap_findings or []]
    return field


def _labelled_passages(con: Any, run_id: str) -> list[tuple[dict[str, Any], str]]:
    """The root's labelled passages (the notice as the run read it), each with its document name."""
    outputs = reads.step_outputs_of_tree(con, run_id, "labelled_passages")
    if not outputs:
        return []
    first = outputs[0]["run_id"]
    out: list[tuple[dict[str, Any], str]] = []
    for o in outputs:
        if o["run_id"] != first:
            continue
        data = json.loads(o["output_json"])
        docs = data if isinstance(data, list) else [data]
        for doc in docs:
            # a document set: each passage's own document, not the set's name
            names = {d["id"]: d["name"] for d in doc.get("documents") or []}
            out += [(p, names.get(p.get("document_id") or "", doc["document_name"])) for p in doc["passages"]]
    return out


def build_ropa(source: Source, run_id: str, systems: list[SystemInfo]) -> dict[str, Any]:
    """The record for `run_id`'s tree: ``activities`` (system, purpose, fields) and the systems
    the inventory lists that no scan read (``unscanned``)."""
    with source.connect() as con:
        run = source.run(run_id)
        passages = _labelled_passages(con, run_id)
        found = reads.findings_of_tree(con, run_id)
        documents = reads.documents_of_run(con, run["root_run_id"])
    for f in found:
        f["evidence"] = json.loads(f.pop("evidence_json"))
        f["details"] = json.loads(f.pop("details_json"))
    scanned = sorted(
        {
            f["system"]
            for f in found
            if f["analyser"] in ("personal_data_scan", "third_party_scan") and f["system"]
        }
    )
    inventory = {s.id: s for s in systems}
    purposes = _purposes(passages)
    notice_recipients = _matching_sentences(_labelled(passages, "recipients"), _SHARING)
    transfer_passages = _labelled(passages, "international_transfer")
    safeguards = _matching_sentences(transfer_passages, _SAFEGUARD)
    notice: dict[str, list[dict[str, Any]]] = {
        "data_subjects": _subjects(passages, None),
        "data_categories": [
            {"value": c["key"], "source": _passage_source(p, d, c["quote"])}
            for p, d in passages
            for c in p["data_categories"]
        ],
        "recipients": notice_recipients,
        "transfers": _matching_sentences(transfer_passages, _TRANSFER),
        "transfer_safeguards": safeguards,
        "retention": _whole(_labelled(passages, "retention")),
        "security_measures": _whole(_labelled(passages, "security"))
        or _matching_sentences(passages, _SECURITY),
    }
    notice = {name: _unique(values) for name, values in notice.items()}
    shared: dict[str, dict[str, list[dict[str, Any]]]] = {}
    activities = []
    for system_id in sorted(set(scanned) | set(inventory)):
        info = inventory.get(system_id) or SystemInfo(id=system_id, type="unknown")
        mine = [f for f in found if f["system"] == system_id]
        words = _words(" ".join([info.id.replace("-", " "), info.description or "", *info.tags]))
        matched: list[dict[str, Any] | None] = [p for p in purposes if words & _words(p["value"])] or [None]
        categories = [
            {"value": f["data_category"], "source": _finding_source(f)}
            for f in mine
            if f["analyser"] == "personal_data_scan" and f["data_category"]
        ]
        third = [f for f in mine if f["analyser"] == "third_party_scan"]
        categories += [
            {"value": key, "source": _finding_source(f)}
            for f in third
            for key in f["details"].get("data_categories", [])
        ]
        recipients = [
            {"value": f["details"].get("recipient") or f["title"], "source": _finding_source(f)}
            for f in third
        ]
        transfers = [
            {
                "value": f"{f['details'].get('recipient')} ({', '.join(f['details'].get('countries', []))})",
                "source": _finding_source(f),
            }
            for f in third
            if f["details"].get("transfer")
        ]
        transferring = bool(transfers or notice["transfers"])
        own = shared[system_id] = {
            "data_categories": _unique(categories),
            "recipients": _unique(recipients),
            "transfers": _unique(transfers),
        }

        def gaps(name: str, system_id: str = system_id) -> list[dict[str, Any]]:
            codes = _GAP_CODES.get(name, ())
            return [f for f in found if f["code"] in codes and f["system"] in (system_id, None)]

        for purpose in matched:
            clause = purpose["value"] if purpose else None
            subjects = []
            if purpose is not None:
                for name, cue in _SUBJECTS:
                    if re.search(cue, clause or "", re.IGNORECASE):
                        subjects.append({"value": name, "source": purpose["source"]})
            fields = {
                "purposes": _field([purpose] if purpose else [], gaps("purposes")),
                "data_subjects": _field(subjects, notice=None if subjects else notice["data_subjects"]),
                "data_categories": _field(
                    [],
                    gaps("data_categories"),
                    system=own["data_categories"],
                    notice=None if system_id in scanned else notice["data_categories"],
                ),
                "recipients": _field(
                    [], gaps("recipients"), system=own["recipients"], notice=notice["recipients"]
                ),
                "transfers": _field(
                    [], gaps("transfers"), system=own["transfers"], notice=notice["transfers"]
                ),
                "transfer_safeguards": _field(
                    [],
                    gaps("transfer_safeguards"),
                    notice=notice["transfer_safeguards"] if transferring else None,
                ),
                "retention": _field([], gaps("retention"), notice=notice["retention"]),
                "security_measures": _field([], notice=notice["security_measures"]),
            }
            activities.append(
                {
                    "system": system_id,
                    "system_type": info.type,
                    "owner": info.owner,
                    "purpose": clause,
                    "scanned": system_id in scanned,
                    "fields": fields,
                    "gaps": [name for name in FIELDS if fields[name]["gap"]],
                }
            )
    return {
        "run_id": run_id,
        "root_run_id": run["root_run_id"],
        "tenant": run["tenant"],
        "documents": [d["name"] for d in documents],
        "fields": list(FIELDS),
        "notice": notice,
        "systems": shared,
        "activities": activities,
        "unscanned": sorted(set(inventory) - set(scanned)),
    }


def _cite(source: dict[str, Any]) -> str:
    if source["kind"] == "passage":
        return f"{source['document']} {source['passage_id']}"
    return f"finding {source['finding_id']}" + (f" at {source['location']}" if source.get("location") else "")


NOTICE_ROW = "(notice)"
"""The CSV's system column for the notice-wide values, listed once."""

SYSTEM_ROW = "(every purpose)"
"""The CSV's purpose column for what the scans found in a system, listed once per system."""


def _shared(name: str, field: dict[str, Any]) -> list[tuple[str, str]]:
    """What an activity's field says about the shared lists it draws on: (anchor kind, text)."""
    label = name.replace("_", " ")
    out = []
    if n := field.get("system_values", 0):
        out.append(("system", f"and the system's {n} {label} value(s), listed once"))
    if n := field.get("notice_values", 0):
        out.append(("notice", f"and the notice's {n} {label} value(s), listed once"))
    return out


def ropa_csv(record: dict[str, Any]) -> str:
    """One row per activity and field value: system, purpose, field, value, source, quote, gap.
    Shared values come once: the notice-wide ones first (system ``(notice)``), then each
    system's (purpose ``(every purpose)``); an activity's field that draws on them has a row
    saying so (value empty, the source naming the rows).
    A cell starting with a spreadsheet formula trigger (= + - @, tab, CR) is prefixed with '."""
    import io

    from warden.investigate import spreadsheet

    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(["system", "purpose", "field", "value", "source", "quote", "gap"])

    def values(system: str, purpose: str, name: str, listed: list[dict[str, Any]]) -> None:
        for v in listed:
            quote = v["source"].get("quote") or ""
            writer.writerow([system, purpose, name, v["value"], _cite(v["source"]), quote, ""])

    for name in FIELDS:
        values(NOTICE_ROW, "", name, record.get("notice", {}).get(name, []))
    for system, found in record.get("systems", {}).items():
        for name in FIELDS:
            values(system, SYSTEM_ROW, name, found.get(name, []))
    for a in record["activities"]:
        for name in FIELDS:
            field = a["fields"][name]
            if field["gap"]:
                why = "; ".join(field.get("gap_findings", []))
                writer.writerow([a["system"], a["purpose"] or "", name, "", why, "", "gap"])
            values(a["system"], a["purpose"] or "", name, field["values"])
            for kind, text in _shared(name, field):
                rows = f"system {NOTICE_ROW}" if kind == "notice" else f"purpose {SYSTEM_ROW}"
                writer.writerow([a["system"], a["purpose"] or "", name, "", f"{text} as {rows}", "", ""])
    return out.getvalue()


def ropa_html(record: dict[str, Any]) -> str:
    """One self-contained page (no scripts): a table per activity."""
    from html import escape

    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Record of processing activities: {escape(record['tenant'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #e5e7eb;"
        "padding:.3rem .5rem;text-align:left;vertical-align:top}.gap{color:#b91c1c;font-weight:600}"
        "cite{display:block;color:#4b5563;font-size:.85rem;font-style:normal}</style></head><body>",
        f"<h1>Record of processing activities (GDPR Art. 30(1)): {escape(record['tenant'])}</h1>",
        f"<p>From run <code>{escape(record['run_id'])}</code>; documents: "
        f"{escape(', '.join(record['documents']) or '–')}.</p>",
    ]
    parts += _shared_table(
        "notice",
        "What the notice says for every activity",
        record.get("notice", {}),
        note="Listed once; each activity below says which of these it shares.",
    )
    systems = record.get("systems", {})
    anchors = {system: f"system-{i}" for i, system in enumerate(systems, 1)}
    for system, found in systems.items():
        parts += _shared_table(anchors[system], f"{system}: what the scans found, for every purpose", found)
    for i, a in enumerate(record["activities"], 1):
        parts.append(
            f'<h2 id="activity-{i}">{escape(a["system"])}: '
            f"{escape(a['purpose'] or 'purpose not stated')}</h2>"
            "<table><thead><tr><th>Field</th><th>Values and sources</th></tr></thead><tbody>"
        )
        for name in FIELDS:
            field = a["fields"][name]
            if field["gap"]:
                why = ", ".join(field.get("gap_findings", []))
                cell = '<span class="gap">gap</span>' + (f"<cite>see {escape(why)}</cite>" if why else "")
            else:
                cell = _values_html(field["values"])
                for kind, text in _shared(name, field):
                    anchor = "notice" if kind == "notice" else anchors.get(a["system"], "")
                    cell += f'<div><a href="#{anchor}-{name}">{escape(text)} above</a></div>'
            parts.append(f"<tr><th>{escape(name.replace('_', ' '))}</th><td>{cell}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _shared_table(
    anchor: str, title: str, values: dict[str, list[dict[str, Any]]], *, note: str = ""
) -> list[str]:
    """A table of values several activities share, listed once, a row per field, each row an
    anchor the activities link to; nothing when there are none."""
    from html import escape

    if not any(values.get(name) for name in FIELDS):
        return []
    rows = [
        f'<tr id="{anchor}-{name}"><th>{escape(name.replace("_", " "))}</th>'
        f"<td>{_values_html(values[name])}</td></tr>"
        for name in FIELDS
        if values.get(name)
    ]
    return [
        f'<h2 id="{anchor}">{escape(title)}</h2>' + (f"<p>{escape(note)}</p>" if note else ""),
        "<table><thead><tr><th>Field</th><th>Values and sources</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]


def _values_html(values: list[dict[str, Any]]) -> str:
    from html import escape

    return "".join(
        f"<div>{escape(str(v['value']))}<cite>{escape(_cite(v['source']))}"
        + (
            f": “{escape(v['source']['quote'])}”"
            if v["source"].get("quote") and v["source"]["quote"] != v["value"]
            else ""
        )
        + "</cite></div>"
        for v in values
    )
