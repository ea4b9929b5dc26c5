// Picks an upgrade target from a registry's version list, as a dependency bot would.
const semver = require(process.env.EVAL_REPO)

const published = ['1.2.3', '1.10.0', '1.2.3+build.9', '1.2.3+build.10', '2.0.0-rc.1', '2.0.0']
console.log('sorted:', semver.sort(published.slice()).join(' '))
for (const tag of ['v1.4', 'release-2', 'latest']) {
  console.log('coerce', tag, '->', String(semver.coerce(tag)))
}
console.log('max ^1:', semver.maxSatisfying(published, '^1.2.0'))
console.log('next minor:', semver.inc('1.2.3', 'preminor', 'beta'))
