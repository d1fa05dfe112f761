"""The policy_practices analyser."""
