"""Detectors: name rules and value validators, each mapped to one fideslang data category."""
