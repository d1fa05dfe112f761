"""Maps the top-level `analysers/` and `runbooks/` folders onto importable packages.

pyproject.toml cannot express "src layout plus two more roots" with package discovery, so
this file lists the packages; all other metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"warden": "src/warden", "warden_analysers": "analysers", "warden_runbooks": "runbooks"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir=ROOTS)
