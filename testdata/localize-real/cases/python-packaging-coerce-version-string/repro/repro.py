"""Checks which installed distributions satisfy a project's requirement specifiers, as a
dependency checker would (versions come in as plain strings from metadata)."""
from packaging.specifiers import Specifier

installed = {"requests": "2.31.0", "urllib3": "2.0.7", "idna": "3.4"}
requirements = {"requests": ">=2.25,<3", "urllib3": "~=1.26", "idna": "==3.*"}
for name, spec in requirements.items():
    ok = all(Specifier(part).contains(installed[name]) for part in spec.split(","))
    print(name, installed[name], spec, "->", ok)
