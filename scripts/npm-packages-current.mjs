// Exit 0 when node_modules holds every package package-lock.json names, at its
// version (npm's own record of what it installed, node_modules/.package-lock.json);
// 1 when `npm ci` is needed. A check of content, not of file times: a fresh
// clone or a `git checkout` makes package-lock.json look newer than an
// install that matches it exactly.
import { readFileSync } from 'node:fs';

function packages(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8')).packages ?? {};
  } catch {
    return null;
  }
}

const wanted = packages('package-lock.json');
const installed = packages('node_modules/.package-lock.json');
if (wanted === null || installed === null) process.exit(1);
const stale = Object.entries(wanted).filter(
  // "" is the project itself; an optional package for another platform is never installed.
  ([path, p]) => path !== '' && !p.optional && installed[path]?.version !== p.version,
);
if (stale.length > 0) {
  if (!process.argv.includes('--quiet'))
    console.error(
      `setup: node_modules lacks ${stale[0][0]}@${stale[0][1].version}${stale.length > 1 ? ` and ${stale.length - 1} more` : ''}`,
    );
  process.exit(1);
}
