"""Errors users can act on: each carries a stable code, what went wrong, and how to fix it.

The CLI prints these as one clear message and a non-zero exit; anything else reaching the top
is a bug.
"""

from __future__ import annotations

__all__ = ["LoadError", "PolicyError", "UsageError", "WardenError"]


class WardenError(Exception):
    """Base of every error Warden reports to a user instead of a traceback."""

    code: str = "error"

    def __init__(self, message: str, *, fix: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class LoadError(WardenError):
    """A file could not be read into a model (size, encoding, syntax, schema)."""

    code = "load_error"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        path: str | None = None,
        fix: str | None = None,
        code: str | None = None,
    ) -> None:
        where = source or "<input>"
        if line is not None:
            where += f":{line}"
        if path:
            where += f" at '{path}'"
        super().__init__(f"{where}: {message}", fix=fix, code=code)
        self.source, self.line, self.path, self.reason = source, line, path, message


class PolicyError(LoadError):
    """The governance policy file is missing, malformed or inconsistent."""

    code = "policy_error"


class UsageError(WardenError):
    """The command was called wrongly (unknown tenant, missing option, ...): exit code 2."""

    code = "usage"
