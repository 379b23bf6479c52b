#!/usr/bin/env node
// The release's decisions, one place for the workflow (.github/workflows/release.yml) and for the
// local dry run (scripts/release-dry-run.sh):
//
//   node scripts/release.mjs prepare <X.Y.Z>          set package.json's version and turn CHANGELOG.md's
//                                                      "Unreleased" into "## [X.Y.Z] - <today>"
//   node scripts/release.mjs plan <vX.Y.Z> [--notes <file>] [--repository <owner/name>]
//                                                      check the tag against package.json and CHANGELOG.md,
//                                                      write the release notes, print key=value lines for
//                                                      $GITHUB_OUTPUT (version, prerelease, dist-tag, major,
//                                                      move-major)
//   node scripts/release.mjs verify-dist              rebuild dist/ and fail when it differs from the commit

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?$/;

export class ReleaseError extends Error {}

/** A release tag `vX.Y.Z` or `vX.Y.Z-pre.N` as its parts; anything else is refused. */
export function parseTag(tag) {
  const match = /^v(.+)$/.exec(tag ?? '');
  const version = match?.[1] ?? '';
  const parts = SEMVER.exec(version);
  if (!parts)
    throw new ReleaseError(
      `'${tag}' is not a release tag: expected vMAJOR.MINOR.PATCH (e.g. v1.2.3) or a pre-release such as v1.3.0-rc.1`,
    );
  return {
    tag,
    version,
    major: Number(parts[1]),
    minor: Number(parts[2]),
    patch: Number(parts[3]),
    prerelease: parts[4] ?? null,
  };
}

function compareIdentifiers(a, b) {
  const [na, nb] = [/^\d+$/.test(a), /^\d+$/.test(b)];
  if (na && nb) return Number(a) - Number(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence of two parsed tags. */
export function compareVersions(a, b) {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0 || a.prerelease === b.prerelease) return core;
  if (a.prerelease === null) return 1;
  if (b.prerelease === null) return -1;
  const [pa, pb] = [a.prerelease.split('.'), b.prerelease.split('.')];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    const order = compareIdentifiers(pa[i], pb[i]);
    if (order !== 0) return order;
  }
  return 0;
}

/**
 * Whether the major tag (v1) moves to this release: only for a stable release that is the newest
 * stable one of its major, so a fix released for an older minor never takes `v1` backwards.
 */
export function shouldMoveMajor(release, existingTags) {
  if (release.prerelease !== null) return false;
  const sameMajor = existingTags.flatMap((tag) => {
    try {
      const parsed = parseTag(tag);
      return parsed.major === release.major && parsed.prerelease === null ? [parsed] : [];
    } catch {
      return []; // v1, latest, and other tags that are not releases
    }
  });
  return sameMajor.every((other) => compareVersions(release, other) >= 0);
}

const HEADING = /^## \[([^\]]+)\](.*)$/gm;

/** The body of CHANGELOG.md's `## [version] - YYYY-MM-DD` section, without its heading. */
export function releaseNotes(changelog, version) {
  const headings = [...changelog.matchAll(HEADING)];
  const index = headings.findIndex((h) => h[1] === version);
  if (index < 0)
    throw new ReleaseError(
      `CHANGELOG.md has no "## [${version}] - YYYY-MM-DD" section: run 'node ` +
        `scripts/release.mjs prepare ${version}' and commit before tagging`,
    );
  const heading = headings[index];
  const date = /^ - (\d{4}-\d{2}-\d{2})\s*$/.exec(heading[2])?.[1];
  if (!date || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))
    throw new ReleaseError(
      `CHANGELOG.md's "## [${version}]" heading needs its release date: "## [${version}] - YYYY-MM-DD"`,
    );
  const end = headings[index + 1]?.index ?? changelog.search(/^\[[^\]]+\]: /m);
  const body = changelog.slice(heading.index + heading[0].length, end < 0 ? undefined : end).trim();
  if (!/^- /m.test(body)) throw new ReleaseError(`CHANGELOG.md's "## [${version}]" section lists no change`);
  return `${body}\n`;
}

/** Where the entries of the section starting at `from` end: the next heading or the link list. */
function sectionEnd(changelog, from) {
  const rest = changelog.slice(from);
  const at = rest.search(/^## \[|^\[[^\]]+\]: /m);
  return at < 0 ? changelog.length : from + at;
}

/** CHANGELOG.md with its "Unreleased" entries moved under a dated heading for `version`. */
export function changelogForRelease(changelog, version, date, repositoryUrl) {
  if ([...changelog.matchAll(HEADING)].some((h) => h[1] === version))
    throw new ReleaseError(`CHANGELOG.md already has a section for ${version}`);
  const unreleased = /^## \[Unreleased\][^\n]*\n/m.exec(changelog);
  if (!unreleased) throw new ReleaseError('CHANGELOG.md has no "## [Unreleased]" section to release');
  const from = unreleased.index + unreleased[0].length;
  const to = sectionEnd(changelog, from);
  const entries = changelog.slice(from, to).trim();
  if (!/^- /m.test(entries)) throw new ReleaseError('"## [Unreleased]" lists no change: nothing to release');
  const previous = [...changelog.slice(to).matchAll(HEADING)][0]?.[1];
  const links = [
    `[Unreleased]: ${repositoryUrl}/compare/v${version}...HEAD`,
    `[${version}]: ` +
      `${previous ? `${repositoryUrl}/compare/v${previous}...v${version}` : releaseUrl(repositoryUrl, version)}`,
  ].join('\n');
  const tail = changelog.slice(to);
  const linked = /^\[Unreleased\]: .*$/m.test(tail)
    ? tail.replace(/^\[Unreleased\]: .*$/m, links)
    : `${tail.trimEnd()}\n\n${links}\n`;
  return `${changelog.slice(0, from)}\n## [${version}] - ${date}\n\n${entries}\n\n${linked.replace(/^\n+/, '')}`;
}

/** owner/name of a package.json repository field (github URLs only). */
export function githubRepository(pkg) {
  const url = typeof pkg.repository === 'string' ? pkg.repository : (pkg.repository?.url ?? '');
  return /github\.com[/:]([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(url)?.[1] ?? null;
}

function readJson(file) {
  return JSON.parse(readFileSync(path.join(root, file), 'utf8'));
}

function existingTags() {
  return execFileSync('git', ['tag', '--list', 'v*'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
}

function plan(tag, { notes, repository }) {
  const release = parseTag(tag);
  const pkg = readJson('package.json');
  if (pkg.version !== release.version)
    throw new ReleaseError(
      `tag ${tag} does not match package.json's version ${pkg.version}: run 'node ` +
        `scripts/release.mjs prepare ${release.version}', commit, and tag that commit`,
    );
  if (repository && githubRepository(pkg)?.toLowerCase() !== repository.toLowerCase()) {
    throw new ReleaseError(
      `package.json's repository (${githubRepository(pkg) ?? 'none'}) is not ${repository}: ` +
        'npm refuses provenance for a package built in another repository',
    );
  }
  const text = releaseNotes(readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8'), release.version);
  if (notes) writeFileSync(notes, text);
  const outputs = {
    tag,
    version: release.version,
    prerelease: String(release.prerelease !== null),
    'dist-tag': release.prerelease === null ? 'latest' : 'next',
    major: `v${release.major}`,
    'move-major': String(
      shouldMoveMajor(
        release,
        existingTags().filter((t) => t !== tag),
      ),
    ),
  };
  return Object.entries(outputs)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
}

function prepare(version) {
  const release = parseTag(`v${version}`);
  const pkg = readJson('package.json');
  const repo = githubRepository(pkg);
  if (!repo) throw new ReleaseError("package.json has no GitHub repository URL for the changelog's links");
  const date = new Date().toISOString().slice(0, 10);
  const changelog = readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8');
  writeFileSync(
    path.join(root, 'CHANGELOG.md'),
    changelogForRelease(changelog, release.version, date, `https://github.com/${repo}`),
  );
  execFileSync('npm', ['version', release.version, '--no-git-tag-version', '--allow-same-version'], {
    cwd: root,
    stdio: 'ignore',
  });
  return (
    `package.json and CHANGELOG.md now release ${release.version} (${date}); commit them, ` +
    `then tag v${release.version} and push the tag`
  );
}

function verifyDist() {
  execFileSync('npm', ['run', 'bundle', '--silent'], { cwd: root, stdio: 'inherit' });
  const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=all', '--', 'dist'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (changed.trim())
    throw new ReleaseError(
      `dist/ is not what 'npm run bundle' builds from this commit:\n${changed}Run 'npm run bundle' and commit dist/.`,
    );
  return 'dist/ is what npm run bundle builds from this commit';
}

function main(argv) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { notes: { type: 'string' }, repository: { type: 'string' } },
  });
  const [command, argument] = positionals;
  if (command === 'plan' && argument) return plan(argument, values);
  if (command === 'prepare' && argument) return prepare(argument);
  if (command === 'verify-dist') return verifyDist();
  throw new ReleaseError(
    'usage: node scripts/release.mjs plan <vX.Y.Z> [--notes file] [--repository ' +
      'owner/name] | prepare <X.Y.Z> | verify-dist',
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${main(process.argv.slice(2))}\n`);
  } catch (error) {
    process.stderr.write(`release: ${error instanceof ReleaseError ? error.message : error.stack}\n`);
    process.exitCode = error instanceof ReleaseError ? 2 : 1;
  }
}

function releaseUrl(repositoryUrl, version) {
  return `${repositoryUrl}/releases/tag/v${version}`;
}
