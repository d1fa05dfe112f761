"""Test helpers for the approval queue: a policy copy with SLA and channels, a loopback SMTP
server (aiosmtpd) and a loopback webhook receiver."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ACME = REPO / "fixtures" / "acme"
GLOBEX = REPO / "fixtures" / "globex"
POLICY = ACME / "policy.yaml"
NOTICE = ACME / "notice.md"
GLOBEX_NOTICE = GLOBEX / "notice.md"

EMAILS = {
    "ana@acme": "ana@acme.test",
    "dora@acme": "dora@acme.test",
    "adam@acme": "adam@acme.test",
    "gwen@globex": "gwen@globex.test",
}


def _absolute(base: Path, value: str) -> str:
    return value if Path(value).is_absolute() else str((base / value).resolve())


def policy_copy(
    folder: Path,
    *,
    sla: str | None = None,
    escalate_to: str | None = None,
    smtp_port: int | None = None,
    webhook_url: str | None = None,
    tweak: Any = None,
    name: str = "policy.yaml",
) -> Path:
    """The bundled policy, written to `folder` with its relative paths made absolute, users'
    e-mail addresses, and (for Acme) the SLA and channels asked for."""
    data = yaml.safe_load(POLICY.read_text())
    for tenant in data["tenants"].values():
        tenant["allowed_roots"] = [_absolute(ACME, r) for r in tenant.get("allowed_roots", [])]
        tenant["document_roots"] = [_absolute(ACME, r) for r in tenant.get("document_roots", [])]
        for system in tenant.get("systems", []):
            if system["type"] != "postgres":
                system["location"] = _absolute(ACME, system["location"])
        for user, entry in tenant["users"].items():
            if user in EMAILS:
                entry["email"] = EMAILS[user]
    acme = data["tenants"]["acme"]
    if sla is not None:
        acme["approval"]["sla"] = sla
    if escalate_to is not None:
        acme["approval"]["escalate_to"] = escalate_to
    channels: dict[str, Any] = {}
    if smtp_port is not None:
        channels["email"] = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "from": "warden@acme.test"}
    if webhook_url is not None:
        channels["webhook"] = {"url": webhook_url, "timeout_s": 5}
    if channels:
        acme["notifications"] = channels
    if tweak is not None:
        tweak(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What the loopback SMTP server received."""

    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        return [m for _, rcpts, m in self.messages if address in rcpts]


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    port = free_port()
    box = Mailbox(port)

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
            )
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hooks:
    """What the loopback webhook receiver got: (headers, JSON body) per POST."""

    url: str
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    location: str | None = None
    """Sent as the Location header (a redirect) when set."""

    def events(self) -> list[str]:
        return [body["event"] for _, body in self.received]

    def basic_auth(self) -> list[str]:
        found = []
        for headers, _ in self.received:
            value = headers.get("Authorization", "")
            if value.startswith("Basic "):
                found.append(base64.b64decode(value[6:]).decode())
        return found


@contextmanager
def webhook_server(userinfo: str = "") -> Iterator[Hooks]:
    hooks = Hooks(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            hooks.received.append((dict(self.headers), body))
            self.send_response(hooks.status)
            if hooks.location:
                self.send_header("Location", hooks.location)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hooks.url = f"http://{userinfo}127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()
