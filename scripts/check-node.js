// Fails early, with a message a person can act on, when npm scripts run on a Node older than 24.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `portcullis: Node ${process.versions.node} is too old: Node 24 or newer is required.\n` +
      'Run `npm ci` first: it installs Node 24 into node_modules/.bin, which every npm script uses.',
  );
  process.exit(1);
}
