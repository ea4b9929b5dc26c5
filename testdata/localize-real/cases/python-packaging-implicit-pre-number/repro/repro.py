"""Picks the newest release that satisfies a requirement, as an installer's resolver would."""
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

AVAILABLE = ["1.0", "1.0+local.7", "1.1a", "1.1rc1", "1.1", "1!0.5", "2.0.dev3", "2.0", "not-a-version"]

versions = []
for text in AVAILABLE:
    try:
        versions.append(Version(text))
    except InvalidVersion as e:
        print("skipped:", e)
versions.sort()
print("sorted:", [str(v) for v in versions])
spec = SpecifierSet("~=1.0,!=1.1rc1")
print("best for", spec, "->", max(v for v in versions if v in spec))
