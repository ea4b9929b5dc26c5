// Parses command lines typed into a chat-ops bot, as the bot's command router would.
const parse = require(process.env.EVAL_REPO)

const lines = [
  'deploy --env prod --replicas 3',
  'scale  web --to 5',
  'notify --users ada bob --channel ops',
  'tail --lines',
]
for (const line of lines) {
  const argv = parse(line, { array: ['users'], number: ['replicas', 'to', 'lines'], narg: { lines: 1 } })
  console.log(JSON.stringify(argv))
}
