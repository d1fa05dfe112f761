"""The analyser catalogue: every installed analyser's manifest, found without importing code.

Built-in analysers live in ``analysers/<name>/manifest.yaml`` (the ``warden_analysers``
package). Third-party ones register a manifest file through the ``warden.analysers``
entry-point group: ``name = "package.module:MANIFEST_PATH"`` or a package whose folder holds
``manifest.yaml``. A catalogue is an ordinary object: tests build their own, nothing global to
reset.

Analysers that are not installed as a package can be added with ``WARDEN_ANALYSER_PATH``: a
list of folders (separated like ``PATH``) whose ``*/manifest.yaml`` are discovered too. Each
folder is appended to ``sys.path`` (after the installed packages, so it can never shadow
them), and a manifest's ``entrypoint`` names its module relative to that folder, e.g.
``slow_scan.analyser:run`` for ``FOLDER/slow_scan/analyser.py``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from warden.errors import LoadError
from warden.safeload import load_model, parse_text, read_text
from warden.schemas.manifest import AnalyserManifest

__all__ = [
    "ENTRY_POINT_GROUP",
    "PATH_ENV",
    "Catalogue",
    "default_catalogue",
    "extra_folders",
    "load_manifest",
]

ENTRY_POINT_GROUP = "warden.analysers"
PATH_ENV = "WARDEN_ANALYSER_PATH"

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
        """Built-in analysers, those registered through the entry-point group, and those in
        the folders of ``$WARDEN_ANALYSER_PATH``."""
        builtin = Path(str(resources.files("warden_analysers")))
        manifests = list(cls.from_folders(builtin))
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            manifests.append(_entry_point_manifest(ep))
        for folder in extra_folders():
            manifests += list(cls.from_folders(folder))
            if str(folder) not in sys.path:
                sys.path.append(str(folder))
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
            entry: Analyser = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LoadError(
                f"analyser '{name}' cannot be loaded from '{manifest.entrypoint}': {exc}",
                fix="reinstall the package that provides it",
                code="analyser_unloadable",
            ) from None
        return entry


def extra_folders() -> list[Path]:
    """The existing folders named by ``$WARDEN_ANALYSER_PATH`` (empty entries are skipped)."""
    raw = os.environ.get(PATH_ENV, "")
    folders = [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise LoadError(
            f"{PATH_ENV} names folders that do not exist: {', '.join(missing)}",
            fix=f"fix or unset {PATH_ENV}",
            code="bad_analyser_path",
        )
    return folders


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
