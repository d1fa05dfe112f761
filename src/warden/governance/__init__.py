"""Governance: the policy file that says who may run and approve what, where, for how much."""

from warden.governance.policy import POLICY_ENV, LoadedPolicy, load_policy, load_policy_text, resolve, tighter

__all__ = ["POLICY_ENV", "LoadedPolicy", "load_policy", "load_policy_text", "resolve", "tighter"]
