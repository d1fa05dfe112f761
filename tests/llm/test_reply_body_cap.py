"""The chat model's HTTP client stops reading a reply at the body cap, whether the server says
the length up front or streams it chunked; a reply within the cap reads whole. A real loopback
HTTP server, a real httpx client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from warden.llm.bounded import ReplyTooLarge, body_limit, capped_client
from warden.llm.failures import classify

BODY = b"y" * 300_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BODY), 16_384):
                piece = BODY[start : start + 16_384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hanging up at the cap breaks the pipe: expected here


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("path", ["/sized", "/chunked"])
def test_a_reply_longer_than_the_cap_is_cut_off_and_classified_as_bad_output(server: str, path: str) -> None:
    with capped_client(100_000, timeout=10) as client, pytest.raises(ReplyTooLarge) as caught:
        client.get(server + path)
    failure = classify(RuntimeError("wrapped by the client")).kind
    assert failure == "other"  # a foreign error stays foreign ...
    try:
        raise RuntimeError("Connection error.") from caught.value
    except RuntimeError as wrapped:  # ... and a wrapped cap is bad output, not a connection error
        assert classify(wrapped).kind == "bad_output"
        assert "100,000 bytes" in classify(wrapped).message


@pytest.mark.parametrize("path", ["/sized", "/chunked"])
def test_a_reply_within_the_cap_reads_whole(server: str, path: str) -> None:
    with capped_client(len(BODY), timeout=10) as client:
        assert client.get(server + path).content == BODY


def test_the_cap_leaves_room_for_every_reply_max_tokens_allows() -> None:
    # 16 characters a token, each escaped as up to 12 bytes, plus a megabyte of envelope
    assert body_limit(4096) == 4096 * 16 * 12 + (1 << 20)
    assert isinstance(capped_client(1, timeout=None), httpx.Client)
