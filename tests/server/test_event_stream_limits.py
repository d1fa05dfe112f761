"""The run page's event streams are bounded per session and per server (docs/SERVER.md): one
more is a coded 429, and a stream gives its slot back however it ends, a client that goes
away included. A real server over a copy of Acme with one tree held `running` (nobody drives
it), so its streams stay open."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import PASSWORD, csrf_of, serving
from tests.service._acme_tree import acme_copy

from warden.errors import WardenError
from warden.server import create_app
from warden.server.events import StreamSlots


@contextmanager
def _server(tmp_path: Path, **limits: int) -> Iterator[tuple[str, Any, str]]:
    acme = acme_copy(tmp_path / "acme")
    service = acme.service()
    for user in ("ana@acme", "dora@acme"):
        service.accounts.add_user(user, "acme", PASSWORD)
    ana = service.principal("ana@acme", writing=True)
    root = service.start(ana, acme.notice, tenant="acme").root_run_id
    with service.store.connect() as con:
        con.execute("UPDATE runs SET status = 'running' WHERE root_run_id = ?", [root])
    app = create_app(
        acme.home, service=service, workers=1, escalate_every_s=None, orphan_grace_s=None, **limits
    )
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}", app, root


def _cookies(url: str, user: str) -> dict[str, str]:
    with httpx.Client(base_url=url, timeout=30) as browser:
        form = browser.get("/sign-in").text
        r = browser.post("/sign-in", data={"user": user, "password": PASSWORD, "csrf_token": csrf_of(form)})
        assert r.status_code == 303, r.text
        return dict(browser.cookies)


class _Open(threading.Thread):
    """A stream held open (reading its events) until :meth:`close` drops the connection."""

    def __init__(self, url: str, cookies: dict[str, str], run_id: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=60, cookies=cookies)
        self.run_id = run_id
        self.status: int | None = None
        self.body = b""
        self.opened = threading.Event()

    def run(self) -> None:
        try:
            with self.client.stream("GET", f"/runs/{self.run_id}/events") as s:
                self.status = s.status_code
                if s.status_code != 200:
                    self.body = s.read()
                self.opened.set()
                for _ in s.iter_lines():
                    pass
        except Exception:  # closed by the test
            pass
        finally:
            self.opened.set()

    def close(self) -> None:
        self.client.close()


def _open(url: str, cookies: dict[str, str], run_id: str) -> _Open:
    stream = _Open(url, cookies, run_id)
    stream.start()
    assert stream.opened.wait(30)
    return stream


def _until(check: Any, what: str, seconds: float = 60) -> None:
    """A dropped stream's slot comes back once its poll in flight (a store read, which may wait
    for the DuckDB file under load) has returned: seconds at most, not the stream's 5 minutes."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_streams_are_capped_per_session_and_per_server_and_a_gone_client_frees_its_slot(
    tmp_path: Path,
) -> None:
    with _server(tmp_path, streams_per_session=2, streams_per_server=3) as (url, app, root):
        slots = app.state.streams
        ana, dora = _cookies(url, "ana@acme"), _cookies(url, "dora@acme")
        first, second = _open(url, ana, root), _open(url, ana, root)
        third = _open(url, ana, root)
        assert (first.status, second.status, third.status) == (200, 200, 429)
        error = json.loads(third.body)["error"]
        assert error["code"] == "too_many_streams" and error["fix"], error
        other = _open(url, dora, root)  # another session: its own allowance...
        assert other.status == 200
        full = _open(url, dora, root)  # ...until the server's is spent
        assert full.status == 429
        first.close()  # the browser tab goes: no event, the connection just drops
        _until(lambda: slots.total() == 2, "a dropped stream kept its slot")
        again = _open(url, ana, root)
        assert again.status == 200
        for s in (second, third, other, full, again):
            s.close()
        _until(lambda: slots.total() == 0, "closed streams kept their slots")


def test_a_stream_that_ends_on_its_own_frees_its_slot(tmp_path: Path) -> None:
    """A settled tree's stream sends `settled` and ends: its slot is free at once, so the page's
    reload after it (live.js) is never refused."""
    with _server(tmp_path, streams_per_session=1) as (url, app, root):
        service = app.state.service
        with service.store.connect() as con:
            con.execute("UPDATE runs SET status = 'completed' WHERE root_run_id = ?", [root])
        cookies = _cookies(url, "ana@acme")
        with httpx.Client(base_url=url, timeout=30, cookies=cookies) as browser:
            for _ in range(3):
                r = browser.get(f"/runs/{root}/events")
                assert r.status_code == 200 and "event: settled" in r.text, r.text
        assert app.state.streams.total() == 0


def test_the_slots_count_and_refuse_limits_below_one() -> None:
    slots = StreamSlots(per_session=2, per_server=3)
    a = [slots.acquire("session-a") for _ in range(3)]
    assert a[2] is None and slots.of("session-a") == 2
    b = slots.acquire("session-b")
    assert b is not None and slots.acquire("session-c") is None
    assert a[0] is not None
    a[0].release()
    a[0].release()  # twice (the stream's end and its response's end): still one slot given back
    assert slots.total() == 2 and slots.of("session-a") == 1
    with pytest.raises(WardenError) as refused:
        StreamSlots(per_session=0)
    assert refused.value.code == "bad_stream_limits" and refused.value.fix
