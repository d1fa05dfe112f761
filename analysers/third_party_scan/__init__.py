"""The third_party_scan analyser: SDKs, imports and endpoints of third parties in source code."""
