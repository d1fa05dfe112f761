"""The analyser catalogue: every installed analyser's manifest, found without importing code.

Built-in analysers live in ``analysers/<name>/manifest.yaml`` (the ``warden_analysers``
package). Third-party ones register a manifest file through the ``warden.analysers``
entry-point group: ``name = "package.module:MANIFEST_PATH"`` or a package whose folder holds
``manifest.yaml``. A catalogue is an ordinary object: tests build their own, nothing global to
reset.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from warden.errors import LoadError
from warden.safeload import load_model, parse_text, read_text
from warden.schemas.manifest import AnalyserManifest

__all__ = ["ENTRY_POINT_GROUP", "Catalogue", "default_catalogue", "load_manifest"]

ENTRY_POINT_GROUP = "warden.analysers"

Analyser = Callable[..., Any]


def load_manifest(path: Path) -> AnalyserManifest:
    """Read and validate one manifest file."""
    return load_model(AnalyserManifest, parse_text(read_text(path), source=str(path)), what="manifest")


class Catalogue:
    """Manifests by analyser name; analyser code is imported only when asked for."""

    def __init__(self, manifests: Iterable[AnalyserManifest]) -> None:
        self._manifests: dict[str, AnalyserManifest] = {}
        for manifest in manifests:
            if manifest.name in self._manifests:
                raise LoadError(
                    f"two analysers are named '{manifest.name}'",
                    fix="uninstall or rename one of them",
                    code="duplicate_analyser",
                )
            self._manifests[manifest.name] = manifest

    @classmethod
    def from_folders(cls, *folders: Path) -> Catalogue:
        """Every ``*/manifest.yaml`` under the given folders."""
        found = []
        for folder in folders:
            found += [load_manifest(p) for p in sorted(Path(folder).glob("*/manifest.yaml"))]
        return cls(found)

    @classmethod
    def discover(cls) -> Catalogue:
        """Built-in analysers plus those registered through the entry-point group."""
        builtin = Path(str(resources.files("warden_analysers")))
        manifests = list(cls.from_folders(builtin))
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            manifests.append(_entry_point_manifest(ep))
        return cls(manifests)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._manifests.values())

    def __contains__(self, name: object) -> bool:
        return name in self._manifests

    def get(self, name: str) -> AnalyserManifest | None:
        return self._manifests.get(name)

    def names(self) -> list[str]:
        return sorted(self._manifests)

    def load(self, name: str) -> Analyser:
        """Import and return the analyser's entry point."""
        manifest = self._manifests[name]
        module_name, _, attr = manifest.entrypoint.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LoadError(
                f"analyser '{name}' cannot be loaded from '{manifest.entrypoint}': {exc}",
                fix="reinstall the package that provides it",
                code="analyser_unloadable",
            ) from None


def _entry_point_manifest(ep: metadata.EntryPoint) -> AnalyserManifest:
    target = ep.load()
    if isinstance(target, AnalyserManifest):
        return target
    if isinstance(target, str | Path):
        return load_manifest(Path(target))
    folder = Path(getattr(target, "__file__", "") or "").parent
    return load_manifest(folder / "manifest.yaml")


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The installed analysers, discovered once per process (manifests are immutable data)."""
    return Catalogue.discover()
