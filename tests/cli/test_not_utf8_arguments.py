"""Arguments that are not UTF-8 (Linux hands a program bytes; Python keeps the undecodable ones
as lone surrogates): a text argument (an id, a reason, a name) is refused `not_utf8`, exit 2,
by every command before it runs (tests/attacks/test_attacks_investigation.py checks a matrix of
commands); a file path is any bytes and is read as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARDEN_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "warden", *args],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )


def test_a_file_name_that_is_not_utf8_is_read_and_a_text_option_that_is_not_is_refused(
    tmp_path: Path,
) -> None:
    notice = Path(os.fsdecode(bytes(tmp_path) + b"/notice-\xff.md"))
    notice.write_text("# Notice\n\nWe collect your email address to send you newsletters.\n")
    done = _warden(tmp_path / "home", "extract", str(notice))
    assert done.returncode == 0, done.stderr
    assert "user.contact.email" in done.stdout

    done = _warden(tmp_path / "home", "extract", str(notice), "--scope", os.fsdecode(b"13\xff"))
    assert done.returncode == 2, done.stderr
    assert "(not_utf8)" in done.stderr and "scope" in done.stderr and "internal error" not in done.stderr
