'use strict';

async function fetchUser(db, id) {
  await new Promise((r) => setTimeout(r, 1));
  return db[id];
}

async function domainOf(db, id) {
  const user = await fetchUser(db, id);
  return user.email.split('@')[1];
}

async function report(db, ids) {
  return Promise.all(ids.map((id) => domainOf(db, id)));
}

function loadConfig(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error('bad config', { cause: err });
  }
}

module.exports = { report, loadConfig };
