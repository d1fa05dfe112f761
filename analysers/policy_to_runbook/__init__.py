"""The policy_to_runbook analyser."""
