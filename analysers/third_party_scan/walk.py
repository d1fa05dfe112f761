"""Walking a source tree safely: inside the root, within caps, never through a symlink.

Dependencies (node_modules, virtualenvs), VCS folders, build output and vendored or minified
bundles are skipped: they are other people's code, and would report every SDK their authors
use. Files are opened without following symlinks, so a link swapped in mid-walk cannot lead
out of the root either. Undecodable bytes are replaced rather than fatal: imports and hosts are
ASCII, so a file with one bad byte is still worth reading.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from warden_analysers.third_party_scan.scan_config import is_env_secret

__all__ = ["SKIP_DIRS", "SkipReason", "SourceFile", "Walk"]

SkipReason = Literal["symlink", "symlink_escape", "too_large", "binary", "minified", "unreadable", "secrets"]
"""Why a file that would have been scanned was not.

- ``symlink``: a link inside the root; its target is scanned where it lives, if at all.
- ``symlink_escape``: a link pointing outside the root: never followed.
- ``too_large``: over ``max_file_bytes``.
- ``binary``: holds NUL bytes.
- ``minified``: a minified or bundled file (``*.min.js``, very long lines).
- ``unreadable``: vanished, not a regular file, or permission denied.
- ``secrets``: a real ``.env`` file.
"""

SKIP_DIRS = frozenset(
    {
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".git",
        ".hg",
        ".svn",
        "venv",
        ".venv",
        "virtualenv",
        ".virtualenv",
        ".tox",
        ".nox",
        "site-packages",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "vendor",
        "vendored",
        "dist",
        "build",
        ".next",
        ".nuxt",
        "coverage",
    }
)
"""Folder names never entered; a folder holding ``pyvenv.cfg`` (any virtualenv) is skipped too."""

_MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".bundle.js", ".chunk.js", "-bundle.js")
_MINIFIED_LINE = 2000
"""A JS/CSS file with a line this long is machine-written."""
_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to scan: its path relative to the root (POSIX), its name and its text."""

    rel: str
    name: str
    text: str
    lossy: bool = False


@dataclass
class Walk:
    """One bounded walk of a root; the counters become the scan's stats."""

    root: Path
    wanted: Callable[[str], bool]
    max_files: int
    max_file_bytes: int
    scanned: int = 0
    ignored: int = 0
    lossy: int = 0
    truncated: bool = False
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def max_entries(self) -> int:
        """Directory entries visited at most, so a tree of a million images still ends quickly."""
        return max(20 * self.max_files, 10_000)

    def files(self) -> Iterator[SourceFile]:
        """The wanted files under the root in sorted order, until a cap is reached."""
        visited = 0
        for top, dirs, names in os.walk(self.root, followlinks=False):
            here = Path(top)
            dirs[:] = sorted(d for d in dirs if not self._skip_dir(here / d))
            for name in sorted(names):
                visited += 1
                if visited > self.max_entries:
                    self.truncated = True
                    return
                if not self.wanted(name):
                    self.ignored += 1
                    continue
                if self.scanned >= self.max_files:
                    self.truncated = True
                    return
                found = self._read(here / name, name)
                if found is not None:
                    self.scanned += 1
                    yield found

    def _skip_dir(self, path: Path) -> bool:
        if path.is_symlink():
            self.skipped["symlink_escape" if not self._inside(path) else "symlink"] += 1
            return True
        return path.name in SKIP_DIRS or (path / "pyvenv.cfg").exists()

    def _inside(self, link: Path) -> bool:
        try:
            return link.resolve().is_relative_to(self.root)
        except (OSError, RuntimeError):
            return False

    def _read(self, path: Path, name: str) -> SourceFile | None:
        rel = path.relative_to(self.root).as_posix()
        reason = self._refuse(path, name)
        if reason is None:
            raw = self._bytes(path)
            if raw is None:
                reason = "unreadable"
            elif len(raw) > self.max_file_bytes:
                reason = "too_large"
            elif b"\x00" in raw[:_SNIFF]:
                reason = "binary"
            else:
                text, lossy = _decode(raw)
                if _minified(name, text):
                    reason = "minified"
                else:
                    self.lossy += lossy
                    return SourceFile(rel, name, text, lossy)
        self.skipped[reason] += 1
        return None

    def _refuse(self, path: Path, name: str) -> SkipReason | None:
        try:
            info = path.lstat()
        except OSError:
            return "unreadable"
        if stat.S_ISLNK(info.st_mode):
            return "symlink" if self._inside(path) else "symlink_escape"
        if not stat.S_ISREG(info.st_mode):
            return "unreadable"
        if info.st_size > self.max_file_bytes:
            return "too_large"
        if name.lower().endswith(_MINIFIED_SUFFIXES):
            return "minified"
        if is_env_secret(name):
            return "secrets"
        return None

    def _bytes(self, path: Path) -> bytes | None:
        """At most max_file_bytes + 1 bytes, opened without following a link or blocking on a FIFO."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(self.max_file_bytes + 1)
        except OSError:
            return None
        finally:
            os.close(fd)


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def _minified(name: str, text: str) -> bool:
    if not name.lower().endswith((".js", ".mjs", ".cjs", ".css")):
        return False
    return any(len(line) > _MINIFIED_LINE for line in text.splitlines())
