"""Built-in analysers: one folder each, holding a manifest, its code and its rules data."""
