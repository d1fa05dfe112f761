"""The CLI as a client of a Warden server: with $WARDEN_SERVER and $WARDEN_TOKEN set, `analyse`,
`runs`, `review`, `approve`, `reject`, `cancel` and `findings` call the server's API instead of
opening the state directory.

Who you are then comes from the token alone: `--as` and `--policy` are refused (the server
decides under the policy in force and the identity the token proves); $WARDEN_USER and
$WARDEN_POLICY are ignored. Server errors come back as the same coded errors and exit codes as
the local commands.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from warden.errors import UsageError, WardenError

__all__ = ["SERVER_ENV", "TOKEN_ENV", "Client", "RemoteOutcome", "remote"]

SERVER_ENV = "WARDEN_SERVER"
TOKEN_ENV = "WARDEN_TOKEN"
USAGE_STATUSES = {400, 401, 404, 413, 415, 422}
"""Server answers the local CLI reports as usage errors (exit 2); others exit 1."""


@dataclass(frozen=True)
class RemoteOutcome:
    """Where a run tree stopped, as `print_outcome` shows it (the local Outcome's fields)."""

    root_run_id: str
    status: str
    waiting: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


def remote(user: str | None = None, policy: object = None) -> Client | None:
    """The server client when $WARDEN_SERVER is set (refusing --as and --policy), else None."""
    server = os.environ.get(SERVER_ENV, "").strip()
    if not server:
        return None
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"${SERVER_ENV} is set but ${TOKEN_ENV} is not",
            fix="get a token (`warden users token USER` on the server's host) and export WARDEN_TOKEN",
            code="no_principal",
        )
    if user:
        raise UsageError(
            "--as cannot be used with a Warden server: your identity is the token's",
            fix=f"drop --as (or unset {SERVER_ENV} to use the local state directory)",
        )
    if policy:
        raise UsageError(
            "--policy cannot be used with a Warden server: it decides under the policy in force",
            fix=f"drop --policy (or unset {SERVER_ENV})",
        )
    return Client(server, token)


class Client:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 60.0) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "warden-cli"},
            timeout=timeout_s,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise WardenError(
                f"cannot reach the Warden server at {self.base_url}: {exc}",
                fix=f"check {SERVER_ENV} and that `warden serve` runs there",
                code="server_unreachable",
            ) from None
        if response.status_code < 400:
            return response.json()
        try:
            error = response.json()["error"]
            code, message, fix = error["code"], error["message"], error.get("fix")
        except Exception:
            code, message, fix = "server_error", f"HTTP {response.status_code}: {response.text[:300]}", None
        kind = UsageError if response.status_code in USAGE_STATUSES else WardenError
        raise kind(message, fix=fix, code=code)

    def settle(self, run_id: str, *, timeout_s: float = 3600.0) -> RemoteOutcome:
        """Wait until the tree finished or waits for approval (a parent stays `running` while a
        child waits)."""
        deadline = time.monotonic() + timeout_s
        delay = 0.1
        while True:
            nodes = self.call("GET", f"/api/runs/{run_id}/tree")
            statuses = {n["status"] for n in nodes}
            if "waiting_approval" in statuses or "running" not in statuses or time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        root = next(n for n in nodes if n["parent_run_id"] is None)
        waiting = []
        for node in nodes:
            if node["status"] == "waiting_approval":
                detail = self.call("GET", f"/api/runs/{node['run_id']}")
                if detail.get("approval"):
                    waiting.append(detail["approval"])
        reason = self.call("GET", f"/api/runs/{root['run_id']}")["run"]["status_reason"]
        return RemoteOutcome(root["run_id"], root["status"], waiting, reason)
