// An independent reading of what the bundle holds and what dist/licenses.txt names, so the notices
// test does not trust the generator's own walk of the module list: here every `nameForCondition`
// in the raw webpack stats text is a bundled file (nested, concatenated modules included), and its
// package is the folder after the last `node_modules/`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const RULE = '='.repeat(80);

function packageDir(file: string): string | undefined {
  const match = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file.replaceAll('\\', '/'));
  return match?.[1];
}

/** name@version → package folder, for every package a webpack stats JSON text says was bundled. */
export function bundledInStats(statsText: string): Map<string, string> {
  const dirs = new Set<string>();
  for (const match of statsText.matchAll(/"nameForCondition":\s*"((?:[^"\\]|\\.)*)"/g)) {
    const dir = packageDir(JSON.parse(`"${match[1]}"`) as string);
    if (dir) dirs.add(dir);
  }
  const packages = new Map<string, string>();
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
    packages.set(`${pkg.name}@${pkg.version}`, dir);
  }
  return packages;
}

/** name@version → section text, for every `name version` line between two rules of the notices. */
export function noticeSections(notices: string): Map<string, string> {
  const headers = [...notices.matchAll(new RegExp(`^${RULE}\\n(\\S+) (\\S+)\\n${RULE}$`, 'gm'))];
  return new Map(
    headers.map((h, i) => [`${h[1]}@${h[2]}`, notices.slice(h.index, headers[i + 1]?.index ?? notices.length)]),
  );
}

/** Bundled packages the notices lack, and sections the bundle does not need. */
export function compareNotices(
  bundled: ReadonlyMap<string, unknown>,
  notices: string,
): { missing: string[]; extra: string[] } {
  const listed = noticeSections(notices);
  return {
    missing: [...bundled.keys()].filter((id) => !listed.has(id)).sort(),
    extra: [...listed.keys()].filter((id) => !bundled.has(id)).sort(),
  };
}
