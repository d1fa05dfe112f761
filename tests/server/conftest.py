"""A live Warden server on a free loopback port (real uvicorn in a thread, real DuckDB and
SQLite files, real HTTP through httpx), with accounts for Acme's and Globex's users."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from warden.server import create_app
from warden.server.identity import proxy_options

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "fixtures" / "acme" / "policy.yaml"
NOTICE = REPO / "fixtures" / "acme" / "notice.md"
GLOBEX_NOTICE = REPO / "fixtures" / "globex" / "notice.md"
GLOBEX_RUNBOOK = REPO / "fixtures" / "globex" / "review.yaml"
PASSWORD = "correct horse battery"
USERS = {
    "ana@acme": "acme",
    "dora@acme": "acme",
    "adam@acme": "acme",
    "gil@globex": "globex",
    "gwen@globex": "globex",
}


@dataclass
class Live:
    url: str
    app: Any
    home: Path
    tokens: dict[str, str]

    @property
    def service(self) -> Any:
        return self.app.state.service

    def client(self, user: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def token(self, user: str, expires: timedelta | None = timedelta(days=1)) -> Any:
        return self.service.accounts.issue_token(user, expires)

    def settle(self, user: str, run_id: str, timeout_s: float = 60) -> list[dict[str, Any]]:
        """Wait until the tree finished or waits for an approval (a parent stays `running` while
        its child waits); the tree's nodes."""
        deadline = time.monotonic() + timeout_s
        with self.client(user) as c:
            while True:
                nodes = c.get(f"/api/runs/{run_id}/tree").json()
                statuses = {n["status"] for n in nodes}
                if "waiting_approval" in statuses or "running" not in statuses:
                    return nodes
                assert time.monotonic() < deadline, nodes
                time.sleep(0.1)

    def waiting_run(self, tenant: str = "acme") -> str:
        """A fresh root run of `tenant` waiting for approval (requested by its analyst)."""
        user, notice = ("ana@acme", NOTICE) if tenant == "acme" else ("gil@globex", GLOBEX_NOTICE)
        with self.client(user) as c:
            data = {"tenant": tenant}
            if tenant == "globex":
                data["runbook_yaml"] = GLOBEX_RUNBOOK.read_text()
            r = c.post("/api/runs", data=data, files={"file": ("notice.md", notice.read_bytes())})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
        nodes = self.settle(user, run_id)
        assert nodes[0]["status"] == "waiting_approval", nodes
        return str(run_id)


def csrf_of(page: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found[1]


@contextmanager
def signed_in(live: Live, user: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser signed in as `user` through the sign-in form, and its session's CSRF token."""
    with live.client() as c:
        form = c.get("/sign-in").text
        r = c.post("/sign-in", data={"user": user, "password": PASSWORD, "csrf_token": csrf_of(form)})
        assert r.status_code == 303, r.text
        yield c, csrf_of(c.get("/").text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serve `app` with uvicorn on a free loopback port (yielded) until the block ends."""
    port = free_port()
    # as `warden serve` without --trusted-proxy: X-Forwarded-For ignored (uvicorn's default
    # would honour it from loopback, where every test client is)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **proxy_options([]))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("server") / "home"
    app = create_app(home, policy=POLICY, workers=2)
    for user, tenant in USERS.items():
        app.state.service.accounts.add_user(user, tenant, PASSWORD)
    tokens = {u: app.state.service.accounts.issue_token(u, timedelta(days=1)).secret for u in USERS}
    with serving(app) as port:
        yield Live(f"http://127.0.0.1:{port}", app, home, tokens)


@pytest.fixture
def fresh_run(live: Live) -> Callable[[str], str]:
    return live.waiting_run
