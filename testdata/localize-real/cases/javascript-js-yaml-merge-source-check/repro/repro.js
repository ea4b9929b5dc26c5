// Loads deployment manifests with merge keys and anchors, as a CLI would; a YAMLException is
// the expected rejection of a bad manifest.
const yaml = require(process.env.EVAL_REPO)

const docs = [
  'base: &base {replicas: 2, image: app}\nprod:\n  <<: *base\n  replicas: 5\n',
  'when: 2024-03-01\nat: 2024-03-01T10:00:00Z\n',
  'defaults:\n  <<: ~\n  a: 1\n',
  'bad: [1, 2\n',
]
for (const doc of docs) {
  try {
    console.log(JSON.stringify(yaml.load(doc)))
  } catch (e) {
    if (!(e instanceof yaml.YAMLException)) throw e
    console.log('rejected:', e.reason)
  }
}
console.log(yaml.dump({ list: [1, 'two', { three: 3 }], text: 'multi\nline' }))
