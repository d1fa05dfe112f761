"""Warden: a governed, agentic compliance analyser.

Privacy notices go in; labelled data practices, GDPR Art. 13/14 transparency findings and
human-approved runbooks that check the organisation's systems come out.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
