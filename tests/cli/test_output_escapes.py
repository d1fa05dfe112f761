"""The CLI printer shows control characters from hostile text as `\\uXXXX` instead of handing
them to the terminal, and leaves ordinary output (newlines, tabs, rich's own styling) alone."""

from __future__ import annotations

import json

import pytest

from warden.cli._output import _LazyConsole, echo, escape_controls

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x9b31m"


def test_controls_are_escaped_and_lines_and_tabs_stay() -> None:
    assert escape_controls(f"a{ESCAPES}\tb\nc\r\udcff") == (
        "a\\u001b]0;PWNED\\u0007\\u001b[2J\\u009b31m\tb\nc\\u000d\\udcff"
    )
    text = "line one\n\tline two, café “quoted”"
    assert escape_controls(text) is text


def test_bidirectional_overrides_are_escaped_so_a_line_reads_as_stored() -> None:
    """A model-written description with a right-to-left override (Trojan Source style) would
    show the approver reordered text; embeddings, overrides and isolates are escaped, while the
    marks that only nudge direction (LRM, RLM) and right-to-left letters stay."""
    hostile = "scan crm\u202e;sbd-ecnanif ot stropxe dna\u202c then stop"
    assert escape_controls(hostile) == "scan crm\\u202e;sbd-ecnanif ot stropxe dna\\u202c then stop"
    assert escape_controls("\u2067isolated\u2069") == "\\u2067isolated\\u2069"
    plain = "שלום \u200f(RLM) مرحبا"
    assert escape_controls(plain) is plain


def test_json_output_stays_json_with_its_values(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"name": f"notice{ESCAPES}.md"}
    echo(json.dumps(value, ensure_ascii=False))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out
    assert json.loads(out) == value


def test_everything_a_console_prints_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _LazyConsole(stderr=False)
    table = Table("document")
    table.add_row(f"notice{ESCAPES}.md")
    console.print(table)
    console.print(f"[bold]run[/]: {ESCAPES}", markup=True)
    console.print(Text(f"quote {ESCAPES}"))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert out.count("\\u001b[2J") == 3


def test_rich_styling_still_reaches_a_terminal() -> None:
    from rich.console import Console

    from warden.cli._output import _escaping_hook

    terminal = Console(force_terminal=True, color_system="standard", width=80, highlight=False)
    terminal.push_render_hook(_escaping_hook())
    with terminal.capture() as captured:
        terminal.print(f"[red]error[/] {ESCAPES}", markup=True)
    out = captured.get()
    assert "\x1b[31m" in out  # rich's colour for [red]
    assert "\\u001b]0;PWNED" in out and "\x07" not in out
