"""Delivering the notification outbox: webhook (JSON POST) and e-mail (SMTP).

Notices are written to the outbox in the transaction of the fact they report (a run waiting, an
escalation, a decision), so nothing a person should hear of is lost and no decision waits on a
mail server. :func:`deliver` drains it: due rows are claimed with a lease, sent outside any
transaction, and their outcome recorded (sent; retried with exponential backoff; failed for good
after :data:`MAX_ATTEMPTS`). Each delivery carries its idempotent id (the ``Idempotency-Key``
header and ``id`` field of a webhook, the ``Message-ID`` of a mail): at-least-once delivery
may repeat it, and the receiver can drop the repeat.

The channel settings (URL, SMTP server) are read at delivery time from the policy in force for
the tenant, falling back to the policy the row was written under: an administrator who fixes a
broken URL by applying a policy fixes the pending retries too. Errors are stored with
credentials masked (:func:`warden.credentials.scrub`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from warden.credentials import scrub
from warden.schemas.policy import EmailChannel, Notifications, WebhookChannel
from warden.service.queue import DeliveryReport
from warden.store import Store, notifications, retrying_conflicts

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "ChannelsFor",
    "backoff_s",
    "deliver",
    "render_email",
    "send_email",
    "send_webhook",
]

MAX_ATTEMPTS = 6
"""Attempts before a delivery is marked failed for good (about an hour of retries)."""
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0
LEASE_S = 120.0
"""How long a claimed delivery is hidden from other deliverers (longer than any send's timeouts)."""

ChannelsFor = Callable[[str, str | None], list[Notifications]]
"""(tenant, bound policy hash) -> the channel settings to try, in order of preference."""


def backoff_s(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 30 s, 1 min, 2 min, ... 1 h."""
    return float(min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


class _Refuse(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would send the notice (and its Authorization
    header) somewhere the policy does not name."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_Refuse)


def send_webhook(channel: WebhookChannel, body: dict[str, Any], notification_id: str) -> None:
    """POST `body` as JSON; a user:password in the URL becomes a Basic Authorization header
    (and never appears in an error). Raises on a failed connection or a non-2xx answer."""
    parts = urllib.parse.urlsplit(channel.url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "warden-notify/1",
        "Idempotency-Key": notification_id,
    }
    url = channel.url
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    data = json.dumps(body, sort_keys=True, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with _NO_REDIRECTS.open(request, timeout=channel.timeout_s) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"webhook answered HTTP {exc.code} {exc.reason}") from None
    if not 200 <= status < 300:
        raise RuntimeError(f"webhook answered HTTP {status}")


def _line(value: Any) -> str:
    """A header-safe one-line text (document names are untrusted)."""
    return " ".join(str(value if value is not None else "-").split())[:200]


def render_email(row: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain text body) of an e-mail delivery."""
    p = row["payload"]
    event = row["event"]
    run_id = row.get("run_id") or "-"
    what = f"{_line(p.get('runbook'))} on {_line(p.get('document'))}"
    if event == "approval_waiting":
        subject = f"[Warden] Approval waiting: {what} ({row['tenant']})"
        lead = f"A run waits for a decision by role '{_line(p.get('required_role'))}'."
    elif event == "approval_escalated":
        subject = f"[Warden] Approval overdue, escalated: {what} ({row['tenant']})"
        lead = (
            f"A run has waited past its SLA (due {_line(p.get('due_at'))}) for a decision by role "
            f"'{_line(p.get('required_role'))}'; it is escalated to role '{_line(p.get('escalate_to'))}'."
        )
    else:
        subject = f"[Warden] Your run {run_id} was decided: {_line(p.get('decision'))}"
        lead = f"{_line(p.get('approver'))} ({_line(p.get('role'))}) decided '{_line(p.get('decision'))}'" + (
            f": {_line(p.get('comment'))}" if p.get("comment") else "."
        )
    lines = [
        lead,
        "",
        f"Run:        {run_id}",
        f"Tenant:     {row['tenant']}",
        f"Runbook:    {_line(p.get('runbook'))}",
        f"Document:   {_line(p.get('document'))}",
        f"Requester:  {_line(p.get('requester'))}",
    ]
    if p.get("due_at"):
        lines.append(f"Due:        {_line(p.get('due_at'))}")
    if event != "decision":
        lines += ["", f"Review it in the Warden inbox, or with `warden review {run_id}`."]
    lines += ["", f"(notification {row['notification_id']})"]
    return _line(subject), "\n".join(lines) + "\n"


def send_email(channel: EmailChannel, to: str, subject: str, text: str, notification_id: str) -> None:
    """Mail one message over SMTP (STARTTLS when the channel asks); raises on failure."""
    message = EmailMessage()
    message["From"] = channel.from_
    message["To"] = to
    message["Subject"] = subject
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@warden>"
    message["X-Warden-Notification"] = _line(notification_id)
    message.set_content(text)
    with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_s) as smtp:
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
        smtp.send_message(message)


def _send(row: dict[str, Any], options: list[Notifications]) -> None:
    channel = row["channel"]
    if channel == "webhook":
        hook = next((o.webhook for o in options if o.webhook is not None), None)
        if hook is None:
            raise LookupError("the tenant no longer configures a webhook")
        send_webhook(hook, row["payload"], row["notification_id"])
    elif channel == "email":
        mail = next((o.email for o in options if o.email is not None), None)
        if mail is None:
            raise LookupError("the tenant no longer configures e-mail")
        if not row.get("address"):
            raise LookupError(f"no e-mail address for {row.get('recipient')}")
        subject, text = render_email(row)
        send_email(mail, row["address"], subject, text, row["notification_id"])
    else:
        raise LookupError(f"unknown channel '{channel}'")


def deliver(
    store: Store,
    channels_for: ChannelsFor,
    *,
    at: datetime,
    limit: int = 100,
    send: Callable[[dict[str, Any], list[Notifications]], None] = _send,
) -> DeliveryReport:
    """One pass over the due deliveries (at most `limit`). A claim that loses a write race to
    another deliverer's (another host draining the same outbox) is made again: it then skips
    the rows the other leased, so each notice is sent once."""

    def claim() -> list[dict[str, Any]]:
        with store.connect() as con:
            return notifications.claim_due(con, at, lease_s=LEASE_S, limit=limit)

    due = retrying_conflicts(claim)
    outcomes: list[tuple[str, str | None, datetime | None]] = []
    sent = retrying = failed = 0
    errors: list[str] = []
    for row in due:
        try:
            options = channels_for(row["tenant"], row.get("policy_sha256"))
            send(row, options)
        except Exception as exc:
            error = scrub(f"{type(exc).__name__}: {exc}")
            errors.append(f"{row['notification_id']}: {error}")
            attempts = int(row["attempts"]) + 1
            permanent = isinstance(exc, LookupError) or attempts >= MAX_ATTEMPTS
            retry_at = None if permanent else at + timedelta(seconds=backoff_s(attempts))
            outcomes.append((row["notification_id"], error, retry_at))
            if permanent:
                failed += 1
            else:
                retrying += 1
        else:
            outcomes.append((row["notification_id"], None, None))
            sent += 1
    if outcomes:  # run again when another deliverer (this one's lease ran out) wrote a row too

        def record() -> None:
            with store.connect() as con:
                for notification_id, failure, retry_at in outcomes:
                    if failure is None:
                        notifications.mark_sent(con, notification_id, at)
                    else:
                        notifications.mark_failed(con, notification_id, failure, retry_at=retry_at)

        retrying_conflicts(record)
    return DeliveryReport(sent=sent, retrying=retrying, failed=failed, errors=errors)
