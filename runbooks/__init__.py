"""Built-in runbooks, shipped as package data."""
