"""`warden extract`: label a notice's passages and check its GDPR transparency items.

Two modes. `--passages FILE.jsonl` is the batch path evaluation scripts call: one
{"id", "labels"} line per input row, nothing else imported (no LangGraph, no DuckDB). A
document path loads the notice and prints its labelled passages and the transparency table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from warden.cli._output import EXIT_USAGE, console, echo, err_console, escape_controls, friendly_errors, plain
from warden.errors import UsageError

if TYPE_CHECKING:
    from warden.schemas.practices import LabelledPassages, TransparencyReport

__all__ = ["extract", "register"]


def register(app: typer.Typer) -> None:
    """Adds the command to the ``warden`` app."""
    app.command("extract")(extract)


@friendly_errors
def extract(
    documents: list[Path] | None = typer.Argument(
        None,
        help="Notice to read (PDF, HTML, DOCX, Markdown or text); several are one notice (a "
        "document set: a product notice and the main policy it refers to).",
    ),
    passages: Path | None = typer.Option(
        None,
        "--passages",
        help='JSONL of {"id", "text", "context": [headings]} rows; prints {"id", "labels"} rows.',
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the document result as JSON."),
    scope: str | None = typer.Option(
        None,
        "--scope",
        help="art13, art14 or both: override the scope decided from what the notice says "
        "(data collected from the person, obtained elsewhere, or both).",
    ),
    article: str | None = typer.Option(None, "--article", help="Older form of --scope: 13, 14 or both."),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help="Drop labels from weaker rules."
    ),
    refine: str = typer.Option(
        "none",
        "--refine",
        help="'llm': a configured model confirms or adds labels where the rules are unsure.",
    ),
    max_cost_usd: float | None = typer.Option(
        None, "--max-cost-usd", min=0.0, help="Stop refining before model calls would spend more than this."
    ),
) -> None:
    """Label the data practices of a privacy notice and list the GDPR items it misses.

    Several documents are checked as one notice: completeness over the set, a reference in one
    to another resolved to it, and every passage and citation naming its document.

    Exit 0: done. 1: the document could not be read. 2: usage error or a bad input row.
    """
    if (not documents) == (passages is None):
        raise UsageError(
            "give either a document path or --passages FILE, not both or neither",
            fix="warden extract notice.pdf [policy.pdf ...]  |  warden extract --passages rows.jsonl",
        )
    if refine not in ("none", "llm"):
        raise UsageError(f"--refine must be none or llm, not '{refine}'")
    session = _refine_session(max_cost_usd) if refine == "llm" else None
    if passages is not None:
        _extract_passages(passages, min_confidence, session)
        return
    if scope is not None and scope not in ("art13", "art14", "both"):
        raise UsageError(f"--scope must be art13, art14 or both, not '{scope}'")
    if article is not None and article not in ("13", "14", "both"):
        raise UsageError(f"--article must be 13, 14 or both, not '{article}'")
    if scope is not None and article is not None:
        raise UsageError("give --scope or --article, not both", fix="--scope art13|art14|both")
    assert documents
    _extract_document(documents, as_json, scope or article, min_confidence, session)


def _refine_session(max_cost_usd: float | None) -> Any:
    """A model session outside any run: no ledger, a running total on stderr, an optional cap."""
    from warden.llm import LlmSession, load_settings
    from warden.llm.factory import chat_model

    settings = load_settings()
    if not settings.model:
        raise UsageError(
            "--refine llm needs a model",
            fix="set WARDEN_LLM_MODEL (see `warden doctor`)",
            code="llm_not_configured",
        )
    spent = {"usd": 0.0, "calls": 0, "in": 0, "out": 0}

    def tally(call: Any) -> None:
        spent["usd"] += call.cost_usd
        spent["calls"] += 1
        spent["in"] += call.tokens_in
        spent["out"] += call.tokens_out

    import atexit

    def summary() -> None:
        if spent["calls"]:
            err_console.print(
                f"[dim]refined with {settings.model}: {spent['calls']} call(s), {spent['in']} tokens in, "
                f"{spent['out']} out, ${spent['usd']:.4f}[/]",
                markup=True,
            )

    atexit.register(summary)
    return LlmSession(
        settings,
        factory=lambda: chat_model(settings),
        recorder=tally,
        budget=(lambda: max_cost_usd - spent["usd"]) if max_cost_usd is not None else (lambda: None),
    )


MAX_ROW_CHARS = 2**20
"""Longest passages row read: a passage is a paragraph; labelling takes about a second per
million characters, and a multi-GB line used to be read whole (time and memory without end)."""


def _lines(handle: Any) -> Iterator[str]:
    """The file's lines, each read at most MAX_ROW_CHARS at a time: a longer one is a bad row."""
    from warden_analysers.policy_practices.batch import BadRow

    number = 0
    while line := handle.readline(MAX_ROW_CHARS + 1):
        number += 1
        if len(line) > MAX_ROW_CHARS and not line.endswith("\n"):
            raise BadRow(number, f"row is longer than {MAX_ROW_CHARS:,} characters")
        yield line


def _extract_passages(path: Path, min_confidence: float, session: Any = None) -> None:
    """Streams labels row by row; a malformed row stops with its line number and exit 2."""
    from warden_analysers.policy_practices.batch import BadRow, label_rows, parse_rows

    if not path.is_file():
        raise UsageError(f"{path}: file not found", fix="check the --passages path")
    out = sys.stdout
    try:
        with path.open(encoding="utf-8-sig") as handle:
            rows = parse_rows(_lines(handle))
            if session is not None:
                from warden_analysers.policy_practices.llm_refine import refine_rows

                labelled = refine_rows(list(rows), session, min_confidence)
            else:
                labelled = label_rows(rows, min_confidence)
            for ident, labels in labelled:
                out.write(
                    escape_controls(json.dumps({"id": ident, "labels": labels}, ensure_ascii=False)) + "\n"
                )
    except BadRow as exc:
        out.flush()
        err_console.print(f"[bold red]error[/] [dim](bad_row)[/]: {plain(f'{path}:{exc}')}", markup=True)
        err_console.print(
            "  [bold]fix[/]: "
            + plain('each line must be a JSON object {"id": str, "text": str, "context": [str, ...]}'),
            markup=True,
        )
        raise typer.Exit(EXIT_USAGE) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _extract_document(
    paths: list[Path], as_json: bool, scope: str | None, min_confidence: float, session: Any = None
) -> None:
    from warden_analysers.gdpr_transparency.analyser import check
    from warden_analysers.gdpr_transparency.scope import parse_scope
    from warden_analysers.policy_practices.analyser import label_document

    from warden.documents import load_document
    from warden.documents.sets import combine

    doc = combine([load_document(path) for path in paths])
    labelled = label_document(doc, min_confidence)
    if session is not None:
        from warden_analysers.policy_practices.llm_refine import refine_labelled

        labelled = refine_labelled(labelled, session)
    report = check(labelled, parse_scope(scope))
    if as_json:
        payload: dict[str, Any] = {
            "labelled_passages": labelled.model_dump(mode="json"),
            "transparency_report": report.model_dump(mode="json"),
        }
        echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    _print_passages(labelled)
    _print_report(report)


def _cite(passage_id: str, names: dict[str, str]) -> str:
    """A passage as the tables show it: its number, after its document's name in a set (the
    passage ids of a set's documents start with each document's id)."""
    number = passage_id.rsplit("#", 1)[-1]
    prefix = passage_id.rsplit("#", 1)[0]
    name = next((n for d, n in names.items() if d.startswith(prefix)), None)
    return f"{name}#{number}" if name else number


def _names(documents: list[Any]) -> dict[str, str]:
    from warden.documents.sets import display_name

    return {d.id: display_name(d.name) for d in documents}


def _print_passages(labelled: LabelledPassages) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Labelled passages: {plain(labelled.document_name)}", show_lines=False)
    table.add_column("passage", style="dim", no_wrap=True)
    table.add_column("labels")
    table.add_column("evidence")
    table.add_column("data categories", style="cyan")
    for passage in labelled.passages:
        if not passage.labels and not passage.data_categories:
            continue
        evidence = Text()
        for label in passage.labels:
            ev = label.evidence[0]
            where = "" if ev.source == "text" else f" [{ev.source}]"
            evidence.append(f"{label.label}: “{ev.quote}”{where}\n")
        table.add_row(
            plain(_cite(passage.id, _names(labelled.documents))),
            ", ".join(passage.label_names()),
            evidence,
            ", ".join(sorted({m.key for m in passage.data_categories})),
        )
    console.print(table)


def _print_report(report: TransparencyReport) -> None:
    from rich.table import Table

    from warden.documents.sets import display_name

    colour = {"present": "green", "missing": "red", "not_applicable": "dim", "deferred": "yellow"}
    severity = {f.details.get("item"): f.severity for f in report.findings}
    names = _names(report.documents)
    if names:
        console.print(f"[bold]Document set[/] (one notice): {plain(', '.join(names.values()))}", markup=True)
    decision = report.scope_decision
    if decision is not None:
        console.print(
            f"[bold]Scope[/]: Art. {decision.scope} ({plain(decision.decided_by)}: {plain(decision.reason)})",
            markup=True,
        )
        for ev in decision.evidence:
            console.print(
                f"  Art. {ev.article} evidence, passage {plain(_cite(ev.passage_id, names))}: "
                f"“{plain(ev.quote)}”",
                markup=True,
            )
    for ref in report.references:
        resolved = f" (in the set: {plain(display_name(ref.resolved_to))})" if ref.resolved_to else ""
        console.print(
            f"[bold]Refers to[/] {plain(ref.name)}{resolved}, passage {plain(_cite(ref.passage_id, names))}: "
            f"“{plain(ref.quote)}”" + (f" (deferred: {', '.join(ref.items)})" if ref.items else ""),
            markup=True,
        )
    table = Table(title=f"GDPR transparency (Art. {report.scope}): {plain(report.document_name)}")
    for column in ("item", "article", "status", "severity", "passages"):
        table.add_column(column)
    for item in report.items:
        status = item.status.replace("_", " ")
        if item.status == "deferred":
            status = f"deferred to {item.deferred_to}"
        where = plain(", ".join(_cite(pid, names) for pid in item.passage_ids[:8])) + (
            " …" if len(item.passage_ids) > 8 else ""
        )
        table.add_row(
            item.item + (" (conditional)" if item.conditional else ""),
            item.article,
            f"[{colour[item.status]}]{plain(status)}[/]",
            severity.get(item.item, ""),
            where or plain(item.reason or ""),
        )
    console.print(table)
    deferred = sum(1 for item in report.items if item.status == "deferred")
    console.print(
        f"{len(report.missing())} missing item(s)"
        + (f", {deferred} deferred to a referenced document" if deferred else "")
        + "."
    )
