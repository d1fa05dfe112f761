"""Prometheus metrics at /metrics: the approval queue's health per tenant.

Scraped with an API token (`Authorization: Bearer`, Prometheus' `authorization` setting): the
figures are those of the token's tenants (every tenant for a policy admin), computed at scrape
time from the queue (the store keeps the timers, so a restart loses nothing).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from warden.server.errors import error_responses
from warden.server.identity import ApiPrincipal, service_of
from warden.service.queue import QueueHealth

__all__ = ["QueueCollector", "router"]

router = APIRouter(tags=["ops"])


class QueueCollector(Collector):
    """The figures of :class:`QueueHealth`, one series per tenant."""

    def __init__(self, health: Sequence[QueueHealth]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, labels: Sequence[str] = ("tenant",)) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=list(labels))

        pending = gauge("warden_approvals_pending", "Approvals waiting for a decision")
        by_age = gauge(
            "warden_approvals_pending_by_age", "Waiting approvals by age bucket", ("tenant", "age")
        )
        overdue = gauge("warden_approvals_overdue", "Waiting approvals past their SLA")
        escalated = gauge("warden_approvals_escalated_pending", "Waiting approvals that were escalated")
        escalated_total = gauge("warden_approvals_escalated", "Approvals ever escalated")
        decided = gauge("warden_approvals_decided", "Approvals decided, by decision", ("tenant", "decision"))
        tta = gauge("warden_time_to_approve_seconds", "Time from request to approval", ("tenant", "quantile"))
        rates = gauge(
            "warden_approval_rate", "Share of decisions that rejected or edited", ("tenant", "kind")
        )
        breaches = gauge("warden_sla_breaches", "Approvals decided or waiting past their SLA")
        for h in self.health:
            t = h.tenant
            pending.add_metric([t], h.pending)
            for bucket, n in h.pending_by_age.items():
                by_age.add_metric([t, bucket], n)
            overdue.add_metric([t], h.overdue)
            escalated.add_metric([t], h.escalated_pending)
            escalated_total.add_metric([t], h.escalated_total)
            for kind, n in (
                ("approved", h.approved),
                ("rejected", h.rejected),
                ("edited", h.edited),
                ("withdrawn", h.withdrawn),
            ):
                decided.add_metric([t, kind], n)
            for q, v in (("0.5", h.time_to_approve_p50_s), ("0.95", h.time_to_approve_p95_s)):
                if v is not None:
                    tta.add_metric([t, q], v)
            for kind, v in (("reject", h.reject_rate), ("edit", h.edit_rate)):
                if v is not None:
                    rates.add_metric([t, kind], v)
            breaches.add_metric([t], h.sla_breaches)
        yield from (pending, by_age, overdue, escalated, escalated_total, decided, tta, rates, breaches)


@router.get(
    "/metrics",
    response_class=Response,
    responses={**error_responses(401), 200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request, p: ApiPrincipal) -> Response:
    """Queue health as Prometheus metrics (text exposition format) for the token's tenants."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(service_of(request).queue_health(p)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
