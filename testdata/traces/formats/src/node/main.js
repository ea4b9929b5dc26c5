const { report, loadConfig } = require('./src/users');
if (process.argv[2] === 'cause') {
  loadConfig('{port: 1}');
} else {
  report({ a: { email: 'a@x.io' } }, ['a', 'b']).then(console.log);
}
