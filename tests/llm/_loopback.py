"""An OpenAI-compatible HTTP endpoint on 127.0.0.1 that answers from a script.

The real ``ChatOpenAI`` client talks to it over HTTP: ``POST /v1/chat/completions`` pops the
next scripted reply (a :class:`Reply`, or a function of the request body that returns one),
``GET /v1/models`` lists one model. Every request body is kept for assertions. An empty
script answers 500, so a test that makes more calls than it scripted fails loudly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "test-model"


@dataclass
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Script = Reply | Callable[[dict[str, Any]], Reply]


def completion(
    content: str | None = None,
    *,
    tool_args: str | None = None,
    tool_name: str = "runbook_definition",
    prompt_tokens: int = 1200,
    completion_tokens: int = 300,
) -> Reply:
    """A chat completion with usage: text content, or one tool call with raw argument text."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_args is not None:
        message["content"] = None
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": tool_name, "arguments": tool_args}}
        ]
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if tool_args is not None else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def plan_reply(plan: dict[str, Any], **usage: int) -> Reply:
    return completion(json.dumps(plan), **usage)


def error(status: int, message: str, **headers: str) -> Reply:
    kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else "invalid_request"
    return Reply(
        status=status, body={"error": {"message": message, "type": kind, "code": kind}}, headers=headers
    )


class Endpoint:
    """The scripted server; use as a context manager (or through the ``endpoint`` fixture)."""

    def __init__(self) -> None:
        self.script: list[Script] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def _send(self, reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(Reply(body={"object": "list", "data": [{"id": MODEL, "object": "model"}]}))
                else:
                    self._send(error(404, f"no route {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(error(404, f"no route {self.path}"))
                    return
                with endpoint.lock:
                    endpoint.requests.append(body)
                    step = endpoint.script.pop(0) if endpoint.script else None
                if step is None:
                    reply = error(500, "the test scripted no more replies")
                else:
                    reply = step(body) if callable(step) else step
                self._send(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def push(self, *replies: Script) -> Endpoint:
        with self.lock:
            self.script.extend(replies)
        return self

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def prompts(self) -> list[str]:
        """The text of every message of every request, joined per request."""
        return ["\n".join(str(m.get("content")) for m in r.get("messages", [])) for r in self.requests]
