"""The gdpr_transparency analyser."""
