"""The graph's nodes, one module each: ingest, plan, guard, approval, step, finish."""

from warden.graph.nodes.approval import approval
from warden.graph.nodes.finish import finish
from warden.graph.nodes.guard import guard
from warden.graph.nodes.ingest import ingest
from warden.graph.nodes.plan import plan
from warden.graph.nodes.step import step

__all__ = ["approval", "finish", "guard", "ingest", "plan", "step"]
