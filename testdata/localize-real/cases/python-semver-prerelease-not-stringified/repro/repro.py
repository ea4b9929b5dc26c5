"""Release tooling: orders candidate versions, checks constraints and bumps pre-releases."""
from semver import Version

candidates = [Version.parse("1.0.0-rc.1"), Version(1, 0, 0, prerelease=2), Version.parse("1.0.0")]
print("newest:", max(candidates))
for text in ["2.1", "3"]:
    print("lenient:", Version.parse(text, optional_minor_and_patch=True))
v = Version.parse("2.4.0-beta.3+build.7")
for expr in [">=2.0.0", "!=2.4.0", "<3.0.0"]:
    print(expr, v.match(expr))
print("bumped:", v.bump_prerelease())
