"""What an investigator reads and what analysts do after a run, attacked with inputs an analyst
or a reviewer controls: `warden report` (HTML, Markdown, JSON), `warden ropa`, `warden
findings`, `warden triage` and `warden diff`, through the real CLI (subprocesses) on a real
DuckDB ledger over a private copy of Acme (tests/service/_acme_tree.py). Each test asserts the
secure behaviour of a defect the review confirmed; all seven are fixed and the tests stay as
regression tests: triage reasons stored with credentials masked and read out redacted
(store/triage.py); the Markdown report keeps every untrusted value one line of text
(investigate/render_md.py `_c`); a text argument that is not UTF-8 is `not_utf8`, exit 2, for
every command (cli/_output.py `friendly_errors`); `reopened` compares the finding's own time;
locations past the ten listed move the evidence hash (analysers/disclosure_gap/compare.py);
the ROPA lists shared values once (investigate/ropa.py). The attacks that held are listed in
the module's final comment.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import pytest
from tests.attacks._cli import warden_cli
from tests.service._acme_tree import Acme, acme_copy

_warden = partial(warden_cli, timeout=120)


def _email_finding(acme: Acme, root: str) -> str:
    """The id of the `scan.personal_data` finding on crm's customers.email column."""
    done = _warden(acme.home, acme.policy, "findings", root, "--as", "dora@acme", "--json")
    assert done.returncode == 0, done.stderr
    found = [
        f
        for f in json.loads(done.stdout)
        if f["code"] == "scan.personal_data"
        and any(e.get("location") == "customers.email" for e in f["evidence"])
    ]
    assert len(found) == 1, [f["finding_id"] for f in found]
    return str(found[0]["finding_id"])


# --- 1. A triage reason is shown unredacted wherever the finding is shown ---------------------

SECRETS = {
    "e-mail": "olivia.hart0@example.com",
    "IBAN": "DE89 3704 0044 0532 0130 00",
    "password": "hunter2-Corr3ct",
    "API key": "sk-live-abcdefghijklmnop1234",
}


def test_a_secret_or_personal_data_in_a_triage_reason_is_masked_in_what_analysts_read(
    tmp_path: Path,
) -> None:
    """A DPO triages the customers.email finding and, as people do, pastes the customer's
    address, the IBAN of the refund and the database password into the reason. The report
    promises "Free text an approver or a failing step wrote (comments, reasons, errors) is
    redacted" (investigate/report.py), comments are scrubbed when stored and the audit export
    redacts the `finding_triaged` payload (checked below) -- but the triage reason is stored as
    typed (store/triage.py `record_triage`) and `attach_triage` hands it on as `why`: the HTML,
    Markdown and JSON reports, `findings --json` and `diff --json` print all four verbatim,
    for every member of the tenant to read and forward."""
    acme = acme_copy(tmp_path / "acme")
    root = acme.completed()
    finding = _email_finding(acme, root)
    reason = (
        f"customer {SECRETS['e-mail']} asked; refund to {SECRETS['IBAN']}; "
        f"db password: {SECRETS['password']} key {SECRETS['API key']}"
    )
    done = _warden(
        acme.home,
        acme.policy,
        "triage",
        finding,
        "--mark",
        "accepted_risk",
        "--reason",
        reason,
        "--as",
        "dora@acme",
    )
    assert done.returncode == 0, done.stderr

    shown = {
        name: _warden(acme.home, acme.policy, *args, "--as", "dora@acme")
        for name, args in {
            "audit export": ("audit", root),
            "report html": ("report", root, "-f", "html"),
            "report md": ("report", root, "-f", "md"),
            "report json": ("report", root, "-f", "json"),
            "findings --json": ("findings", root, "--json"),
            "diff --json": ("diff", root, root, "--json"),
        }.items()
    }
    for name, out in shown.items():
        assert out.returncode == 0, (name, out.stderr)
    assert not any(s in shown["audit export"].stdout for s in SECRETS.values())  # the audit redacts
    leaks = sorted(
        f"{name}: {kind}" for name, out in shown.items() for kind, s in SECRETS.items() if s in out.stdout
    )
    assert leaks == [], leaks


# --- 2. A carriage return in a triage reason rewrites the Markdown report ---------------------


def test_a_carriage_return_in_a_triage_reason_cannot_add_markdown_structure(tmp_path: Path) -> None:
    """`render_md._c` ("a table cell: no pipes or newlines to break the row") replaces `\\n`
    and `|` only. CommonMark (and GitHub, GitLab, markdown-it) ends a line at a lone `\\r`
    too, so a reason `ok\\r## All clear: no findings need action` puts a heading of the
    triager's choosing into the report a ticket or pull request carries (and a `\\r| ... |`
    in an approval comment adds rows to the Approvals table the same way)."""
    acme = acme_copy(tmp_path / "acme")
    root = acme.completed()
    finding = _email_finding(acme, root)
    reason = "seeded test data\r## All clear: no findings need action\r\x1b]0;pwned\x07\u2028## Also clear"
    done = _warden(
        acme.home,
        acme.policy,
        "triage",
        finding,
        "--mark",
        "false_positive",
        "--reason",
        reason,
        "--as",
        "dora@acme",
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report.md"
    done = _warden(acme.home, acme.policy, "report", root, "-f", "md", "-o", str(out), "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    text = out.read_bytes().decode()
    assert "seeded test data" in text  # the reason is in the report ...
    injected = [line for line in text.splitlines() if line.startswith(("## All clear", "## Also clear"))]
    assert injected == [], injected  # ... as text of its line, not as a heading of its own
    assert "\x1b" not in text and "\x07" not in text  # and no terminal controls in the file


# --- 3. An argument that is not UTF-8 is an internal error ------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "report",
        "ropa",
        "findings",
        "diff",
        "triage finding id",
        "triage --run",
        "triage --reason",
        "tree",
        "review",
        "audit",
        "findings --as",
    ],
)
def test_an_argument_that_is_not_utf8_is_answered_with_a_code(tmp_path: Path, command: str) -> None:
    """Linux hands a program bytes; Python turns `\\xff` into the lone surrogate '\\udcff'
    (surrogateescape) and the service passes it to DuckDB as a run id, finding id or reason:
    exit 70, `internal error: InvalidInputException: ... cannot encode str as UTF-8, surrogate
    '\\udcff' ...`, "this is a bug in Warden". (`tree`, `review` and `audit` of such a run id
    fail the same way.) Expected: `unknown_run` / `unknown_finding` / a usage error, exit 2.
    Fixed at the CLI's one door (`friendly_errors`): every text argument of every command is
    checked, so the answer is `not_utf8`, exit 2, before the service is asked."""
    acme = acme_copy(tmp_path / "acme")
    root = acme.completed()
    odd = os.fsdecode(b"run-\xff")
    args: tuple[str, ...] = {
        "report": ("report", odd),
        "ropa": ("ropa", odd),
        "findings": ("findings", odd),
        "diff": ("diff", root, odd),
        "triage finding id": ("triage", os.fsdecode(b"gap-\xff"), "--mark", "fixed", "--reason", "r"),
        "triage --run": ("triage", "gap-x", "--run", odd, "--mark", "fixed", "--reason", "r"),
        "triage --reason": (
            "triage",
            _email_finding(acme, root),
            "--mark",
            "fixed",
            "--reason",
            os.fsdecode(b"fixed \xff"),
        ),
        "tree": ("tree", odd),
        "review": ("review", odd),
        "audit": ("audit", odd),
        "findings --as": ("findings", root, "--as", os.fsdecode(b"dora\xff@acme")),
    }[command]
    if "--as" not in args:
        args = (*args, "--as", "dora@acme")
    done = _warden(acme.home, acme.policy, *args)
    assert done.returncode != 70 and "internal error" not in done.stderr, done.stderr[-400:]
    assert done.returncode == 2 and "(not_utf8)" in done.stderr, done.stderr[-400:]


def test_a_file_name_that_is_not_utf8_is_still_read(tmp_path: Path) -> None:
    """The check is on text arguments only: a path is any bytes (a `Path`, not checked), and a
    notice named so is read as before; a text option beside it is refused."""
    acme = acme_copy(tmp_path / "acme")
    notice = Path(os.fsdecode(bytes(tmp_path) + b"/notice-\xff.md"))
    notice.write_text("# Notice\n\nWe collect your email address to send you newsletters.\n")
    done = _warden(acme.home, acme.policy, "extract", str(notice))
    assert done.returncode == 0, done.stderr
    assert "user.contact.email" in done.stdout
    done = _warden(acme.home, acme.policy, "extract", str(notice), "--scope", os.fsdecode(b"13\xff"))
    assert done.returncode == 2 and "(not_utf8)" in done.stderr and "scope" in done.stderr, done.stderr


def test_the_service_answers_an_id_or_reason_that_is_not_utf8_like_the_cli(tmp_path: Path) -> None:
    """The API hands the service what a JSON body says (`"\\udcff"` decodes to a lone
    surrogate) without the CLI's check: a run id is `unknown_run`, a finding id
    `unknown_finding`, a reason `not_utf8`, never the ledger's encoding error."""
    from warden.errors import UsageError
    from warden.service import NotFound

    acme = acme_copy(tmp_path / "acme")
    root = acme.completed()
    finding = _email_finding(acme, root)
    service = acme.service()
    dora = service.principal("dora@acme")
    odd = "run-\udcff"
    for call in (
        lambda: service.findings(dora, odd),
        lambda: service.ropa(dora, odd),
        lambda: service.diff(dora, root, odd),
        lambda: service.triage(dora, finding, "fixed", "r", run_id=odd),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(UsageError) as refused:
        service.triage(dora, "gap-\udcff", "fixed", "r")
    assert refused.value.code == "unknown_finding"
    with pytest.raises(UsageError) as refused:
        service.triage(dora, finding, "fixed", "fixed \udcff")
    assert refused.value.code == "not_utf8"


# --- 4. A `fixed` mark hides a later scan that still finds the same thing ---------------------


def test_a_scan_made_after_a_fixed_mark_that_finds_the_same_evidence_is_not_suppressed(
    tmp_path: Path,
) -> None:
    """ "fixed: ... a run started after the mark that still finds it with the same evidence
    shows it as reopened: the fix did not take" (store/triage.py). `triage_status` compares the
    mark's time with the *run's* `created_at`, not with when the finding was made. The check
    run of a tree is created when its parent's step drafts it and then waits for a DPO: a
    DPO marks the customers.email column `fixed` (on the previous run) while this week's check
    run waits, then approves it; the scan reads the CRM after the mark, the column is still
    there (same evidence) -- and the finding is shown `applies`, suppressed
    (`--hide-suppressed` drops it, `diff` files it under "suppressed"), as if the fix took."""
    acme = acme_copy(tmp_path / "acme")
    before = acme.completed()
    finding = _email_finding(acme, before)
    service = acme.service()
    ana, dora = service.principal("ana@acme", writing=True), service.principal("dora@acme")
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    service.decide(dora, root, "approve", role="dpo")  # the check run is created and waits

    done = _warden(
        acme.home,
        acme.policy,
        "triage",
        finding,
        "--run",
        before,
        "--mark",
        "fixed",
        "--reason",
        "email column dropped",
        "--as",
        "dora@acme",
    )
    assert done.returncode == 0, done.stderr
    assert service.decide(dora, f"{root}.checks", "approve", role="dpo").status == "completed"

    done = _warden(acme.home, acme.policy, "findings", root, "--json", "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    again = next(f for f in json.loads(done.stdout) if f["finding_id"] == finding)
    assert again["triage"]["state"] == "fixed"
    assert (again["triage"]["status"], again["suppressed"]) == ("reopened", False), again["triage"]


# --- 5. The record of processing activities grows with the square of the notice ---------------


def test_the_ropa_of_a_long_notice_stays_proportionate_to_it(tmp_path: Path) -> None:
    """`build_ropa` makes one activity per system and per "to ..." clause that shares a word
    with it, and copies the notice-wide fields (retention and security passages whole, each
    once as value and once as quote; sharing and transfer sentences; data subjects) into every
    activity. A notice of N purpose clauses naming the systems and a retention section of M
    sentences gives systems x N x M: 300 clauses and 300 retention sentences (57 KB of notice)
    make a 71 MB JSON / 65 MB CSV / 33 MB HTML record (~340 MB resident); ten times the
    notice, a hundred times that. (The Acme notice gives 97 KB: some 16x.)"""
    acme = acme_copy(tmp_path / "acme")
    text = acme.notice.read_text()
    clauses = ", ".join(
        f"to manage customer relationship management crm webshop newsletter export web logs item {i}"
        for i in range(300)
    )
    text = text.replace(
        "We use your personal data to process", f"We use your personal data {clauses}, and to process", 1
    )
    kept = " ".join(
        f"We keep record type {i} for six years after your last order and then delete it." for i in range(300)
    )
    text = text.replace("## Your rights", f"## How long we keep your data\n\n{kept}\n\n## Your rights", 1)
    acme.notice.write_text(text)
    root = acme.completed()

    out = tmp_path / "ropa.json"
    done = _warden(acme.home, acme.policy, "ropa", root, "-f", "json", "-o", str(out), "--as", "dora@acme")
    assert done.returncode == 0, done.stderr
    notice, record = acme.notice.stat().st_size, out.stat().st_size
    assert record < 100 * notice, f"a {notice // 1000} KB notice gave a {record // 1_000_000} MB record"


# --- 6. A triage outlives a change of evidence past the tenth location -------------------------


def test_a_new_column_past_the_tenth_location_makes_a_retention_triage_stale(tmp_path: Path) -> None:
    """ "A new column holding the same category is a change of evidence, not a new finding"
    (store/fingerprints.py) and "a later finding with the same fingerprint and other evidence
    is shown with the triage marked stale and is not suppressed" (store/triage.py). The
    disclosure gap keeps at most `MAX_LOCATIONS` (10) locations as evidence; the other category
    gaps carry the number of locations in their details, `gap.retention_undisclosed` carries
    only the category keys. The newsletter export has ten e-mail columns; a DPO accepts the
    retention gap; an eleventh e-mail column appears: same evidence hash, the acceptance still
    `applies` and `--hide-suppressed` keeps hiding the gap."""
    acme = acme_copy(tmp_path / "acme")
    export = acme.systems / "exports" / "newsletter_subscribers.csv"
    emails = [line.split(",")[0] for line in export.read_text().splitlines()[1:] if line]

    def columns(n: int) -> None:
        names = [f"email_{i:02d}" for i in range(1, n + 1)]
        lines = [",".join(names)] + [",".join(e.replace("@", f"+{c}@") for c in names) for e in emails]
        export.write_text("\n".join(lines) + "\n")

    def retention_gap(root: str) -> dict[str, object]:
        done = _warden(acme.home, acme.policy, "findings", root, "--json", "--as", "dora@acme")
        assert done.returncode == 0, done.stderr
        return next(
            f
            for f in json.loads(done.stdout)
            if f["code"] == "gap.retention_undisclosed" and f["system_id"] == "newsletter-export"
        )

    columns(10)
    first = retention_gap(acme.completed())
    done = _warden(
        acme.home,
        acme.policy,
        "triage",
        str(first["finding_id"]),
        "--mark",
        "accepted_risk",
        "--reason",
        "kept two years under the mailing contract",
        "--as",
        "dora@acme",
    )
    assert done.returncode == 0, done.stderr
    columns(11)
    later = retention_gap(acme.completed())
    assert later["fingerprint"] == first["fingerprint"]  # the same finding ...
    assert later["triage"]["status"] == "stale" and not later["suppressed"], later[
        "triage"
    ]  # ... other evidence


# --- 7. Markup in a notice's heading is live in the Markdown report ---------------------------


def test_markup_in_an_html_notices_heading_and_text_is_not_live_in_the_markdown_report(
    tmp_path: Path,
) -> None:
    """An HTML notice writes markup as text (`&lt;img src=y onerror=...&gt;` in an `<h2>`,
    `[more](javascript:...)` in a paragraph). The loader drops tag-like text from a passage's
    text but not from its headings, and `render_md` puts both out unescaped: the citation line
    `> — notice.html, ... › Cookies <img src=y onerror=alert(3)> [more](javascript:alert(4)),
    passage ...` is raw HTML and a `javascript:` link to any Markdown viewer that renders HTML
    (CommonMark allows both), and the quote `[marketing](javascript:alert(2))` is a live link.
    The HTML report and the ROPA page escape the same values (checked below)."""
    import html

    acme = acme_copy(tmp_path / "acme")
    blocks = []
    for block in acme.notice.read_text().split("\n\n"):
        tag, text = ("h2", block[3:]) if block.startswith("## ") else ("p", block.lstrip("# "))
        blocks.append(f"<{tag}>{html.escape(text)}</{tag}>")
    heading = html.escape("Cookies <img src=y onerror=alert(3)> [more](javascript:alert(4))")
    text = html.escape(
        "We collect your email address for [marketing](javascript:alert(2)) newsletters "
        "and analytics cookies."
    )
    blocks.insert(1, f"<h2>{heading}</h2><p>{text}</p>")
    page = acme.base / "notice.html"
    page.write_text(
        "<html><head><meta charset='utf-8'><title>Notice</title></head><body>"
        + "".join(blocks)
        + "</body></html>"
    )
    root = acme.completed(page)

    shown = {
        name: _warden(acme.home, acme.policy, *args, "--as", "dora@acme")
        for name, args in {
            "report md": ("report", root, "-f", "md"),
            "report html": ("report", root, "-f", "html"),
            "ropa html": ("ropa", root, "-f", "html"),
        }.items()
    }
    for name, out in shown.items():
        assert out.returncode == 0, (name, out.stderr)
    assert "alert(4)" in shown["report md"].stdout  # the heading is cited ...
    baits = {"report md": ("<img", "](javascript:"), "report html": ("<img", 'href="javascript:')}
    baits["ropa html"] = baits["report html"]
    live = sorted(
        f"{name}: {bait}" for name, out in shown.items() for bait in baits[name] if bait in out.stdout
    )
    assert live == [], live  # ... but as text, in every format


# --- Attacks tried that held (same CLI subprocesses, service and live server) ---------------
#
# - Tenancy: as gwen@globex, `report`, `ropa`, `findings`, `audit`, `diff` (either side) and
#   `triage --run` of an Acme run answer byte for byte like a run that does not exist
#   (`unknown_run`, exit 2); `triage` of an Acme finding id without --run is `unknown_finding`,
#   like a made-up id. Fingerprints and verdicts are keyed by tenant (`triage_of`,
#   `attach_triage`), so the same finding id in two tenants is triaged apart.
# - The same notice bytes uploaded by Acme as `acme-falcon-secret.md` and by Globex under its
#   own name: Globex's report (html/md/json), ROPA (json/csv/html), findings, audit and runs
#   never show Acme's name (`run_documents` carries each run's own name).
# - Hostile ids (`run-' OR 1=1--`, `%`, a control character) are plain `unknown_run`; the API
#   and pages answer `/api/runs/%FF/...`, `%ED%B3%BF`, `%00` and `/runs/%FF/report.html`,
#   `.md`, `/audit.csv`, `/review` with a coded 404.
# - Triage carry-over: a `fixed` mark is `reopened` in a run created after it; a changed value
#   (masked example, match count) makes the verdict `stale` and unsuppressed; a revised notice
#   gets new fingerprints (document ids); `diff` reports `evidence_changed`.
# - ESC/BEL and CR in a triage reason never reach the terminal (`report -f md`, `findings`,
#   `audit`, `diff` print them escaped); the audit export (jsonl/csv) redacts the reason.
# - HTML report and ROPA HTML: notice text, headings, document names, triage reasons, system
#   and step names are escaped; no `<img`, no `href="javascript:` from an HTML notice's
#   entity-encoded markup; charts escape labels; `<img onerror>`/`[x](javascript:)` written in a
#   Markdown or text notice are stripped by the loader before any report.
# - CSV: ROPA and audit CSV prefix formula cells (also a document name starting with `=`).
# - Personal data from systems stays masked in findings, report (all formats) and ROPA (no raw
#   address, IP or IBAN of the fixtures); column names and file names that look like data are
#   replaced by placeholders (`safe_name`, `safe_file_name`).
#
# Noted, not separate tests: triage rights come from the policy the finding's run is bound to
# (as README documents; a role taken away in the policy in force later is not consulted for a
# verdict that applies tenant-wide; not probed). Fixed with the sections above:
# `gap.undisclosed_recipient` keeping one code location and no count (its details now carry
# `occurrences` past the first; tests/analysers/test_disclosure_gap.py), and `report -o x.md`
# writing a triage reason's ESC raw into the file (section 2 checks the file).
