// Third-party notices for the Action's bundle, made from the bundle's real module list.
//
// ncc's own `--license` output misses every package webpack concatenates into the main chunk
// (@actions/*, @octokit/*, undici, yaml, minimatch…), so we read webpack's stats of the same build
// instead: every module (concatenated ones included) names the file it came from, the file's
// `node_modules/<package>` folder is the package, and its package.json, license and NOTICE files
// are what the notices repeat. `scripts/bundle.mjs` calls this for every build, so the notices
// follow whatever the bundle holds after a dependency changes.
//
//   node scripts/notices.mjs <webpack-stats.json> <out-file>

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;
const RULE = '='.repeat(80);

// ---- Which packages the bundle holds ----

/** Every module of the stats, with the chunks it was emitted in (concatenated modules inherit them). */
function* modulesOf(list, inherited = []) {
  for (const module of list ?? []) {
    const chunks = module.chunks?.length ? module.chunks : inherited;
    yield { file: module.nameForCondition, chunks };
    yield* modulesOf(module.modules, chunks);
  }
}

/** The package folder a bundled file belongs to: the path up to its last `node_modules/<name>`. */
export function packageDirOf(file) {
  const at = file.lastIndexOf(NODE_MODULES);
  if (at < 0) return undefined;
  const parts = file.slice(at + NODE_MODULES.length).split(path.sep);
  const depth = parts[0]?.startsWith('@') ? 2 : 1;
  return file.slice(0, at + NODE_MODULES.length) + parts.slice(0, depth).join(path.sep);
}

/**
 * The bundled packages of a webpack stats object: folder → { files, outputs }. A file outside every
 * node_modules must be the project's own code under `ownRoot`; anything else stops the build, since
 * nobody could say under which license it was bundled.
 */
export function bundledPackages(stats, ownRoot) {
  const outputs = new Map((stats.chunks ?? []).map((chunk) => [chunk.id, chunk.files ?? []]));
  const packages = new Map();
  for (const { file, chunks } of modulesOf(stats.modules)) {
    if (typeof file !== 'string' || !path.isAbsolute(file)) continue; // webpack runtime, externals
    const dir = packageDirOf(file);
    if (dir === undefined) {
      if (path.relative(ownRoot, file).startsWith('..'))
        throw new Error(`bundled file outside the project and node_modules: ${file}`);
      continue;
    }
    const entry = packages.get(dir) ?? { files: new Set(), outputs: new Set() };
    entry.files.add(file);
    for (const id of chunks) for (const output of outputs.get(id) ?? []) entry.outputs.add(output);
    packages.set(dir, entry);
  }
  return packages;
}

// ---- What each package says about its license ----

const LICENSE_FILE = /^(?:un)?licen[cs]e|^copying/i;
const NOTICE_FILE = /^notice/i;

function readText(file) {
  return readFileSync(file, 'utf8').replace(/\r\n?/g, '\n').replace(/\s+$/, '');
}

function filesMatching(dir, pattern) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && pattern.test(entry.name))
    .map((entry) => entry.name)
    .sort()
    .map((name) => ({ name, text: readText(path.join(dir, name)) }));
}

/** The declared license as an SPDX expression (also the legacy `licenses: [{type}]` form). */
function declaredLicense(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license?.type) return String(pkg.license.type);
  const legacy = Array.isArray(pkg.licenses) ? pkg.licenses.map((l) => l?.type ?? l).filter(Boolean) : [];
  return legacy.length ? legacy.join(' OR ') : undefined;
}

// Lines of license terms that happen to start with the word ("copyright notice and this permission…").
const TERMS =
  /^copyright\s+(?:notices?|owners?|holders?|and|laws?|license|statement|protection|in|to|of|or|is|for|under|the)\b/i;
const PLACEHOLDER = /\[yyyy\]|\{yyyy\}|<year>|\[name of copyright owner\]|<copyright holders?>/i;

/** "Copyright …" lines of a text: a notice's own lines, not the license terms that mention copyright. */
export function copyrightLines(text, { comments = false } = {}) {
  const lines = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (comments) {
      if (!/^(?:\/\/|\/\*|\*)/.test(line)) continue;
      line = line.replace(/^(?:\/\/+|\/\*+|\*+)\s*/, '').replace(/\s*\*+\/\s*$/, '');
    }
    if (!/^(?:copyright\b|\(c\)\s*\d|©)/i.test(line) || TERMS.test(line) || PLACEHOLDER.test(line)) continue;
    lines.push(line.replace(/\s+/g, ' ').slice(0, 200));
  }
  return lines;
}

function words(text) {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/**
 * Whether the package's license files carry the standard text of `id`: most of the standard
 * text's 8-word runs occur in them. Placeholders (<year>, [name]) only break a few runs.
 */
export function containsLicense(files, standardText) {
  const have = ` ${words(files.map((f) => f.text).join('\n')).join(' ')} `;
  const standard = words(standardText);
  let runs = 0;
  let found = 0;
  for (let i = 0; i + 8 <= standard.length; i += 4) {
    runs++;
    if (have.includes(` ${standard.slice(i, i + 8).join(' ')} `)) found++;
  }
  return runs > 0 && found / runs >= 0.6;
}

function licenseIds(expression) {
  return (expression.match(/[A-Za-z0-9][A-Za-z0-9.+-]*/g) ?? []).filter((word) => !/^(?:AND|OR|WITH)$/.test(word));
}

/** Standard texts (SPDX License List) of the declared licenses the package ships no text of. */
function missingTexts(declared, licenseFiles, spdx) {
  const missing = [];
  for (const id of licenseIds(declared ?? '')) {
    const standard = spdx[id.replace(/\+$/, '')];
    if (standard && !containsLicense(licenseFiles, standard.licenseText))
      missing.push({ id, name: standard.name, text: standard.licenseText.replace(/\s+$/, '') });
  }
  return missing;
}

function repositoryOf(pkg) {
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  if (!url) return undefined;
  return url
    .replace(/^git\+/, '')
    .replace(/^git:\/\//, 'https://')
    .replace(/\.git$/, '')
    .replace(/^github:/, 'https://github.com/');
}

function authorOf(pkg) {
  const author = pkg.author;
  if (!author) return undefined;
  return typeof author === 'string'
    ? author
    : [author.name, author.email && `<${author.email}>`, author.url && `(${author.url})`].filter(Boolean).join(' ');
}

/** Everything the notices say about one bundled package, read from its folder. */
export function describePackage(dir, { files = [], outputs = [] } = {}, spdx = require('spdx-license-list/full')) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const declared = declaredLicense(pkg);
  const licenseFiles = filesMatching(dir, LICENSE_FILE);
  const noticeFiles = filesMatching(dir, NOTICE_FILE);
  const standardTexts = missingTexts(declared, licenseFiles, spdx);
  if (!declared && licenseFiles.length === 0) {
    throw new Error(`${pkg.name}@${pkg.version} is bundled but declares no license and ships no license file (${dir})`);
  }
  if (licenseFiles.length === 0 && standardTexts.length === 0) {
    throw new Error(
      `${pkg.name}@${pkg.version} ships no license file and declares '${declared}', which is ` +
        'no SPDX license id: find its license text before bundling it',
    );
  }
  const copyright = new Set([...licenseFiles, ...noticeFiles].flatMap((f) => copyrightLines(f.text)));
  for (const file of [...files].sort())
    for (const line of copyrightLines(readFileSync(file, 'utf8'), { comments: true })) copyright.add(line);
  return {
    name: pkg.name,
    version: pkg.version,
    declared,
    repository: repositoryOf(pkg),
    author: authorOf(pkg),
    outputs: [...outputs].sort(),
    copyright: [...copyright],
    licenseFiles,
    noticeFiles,
    standardTexts,
  };
}

// ---- The notices file ----

function header(packages) {
  const width = Math.max(...packages.map((p) => `${p.name} ${p.version}`.length));
  return [
    "Third-party software in this GitHub Action's bundle (dist/)",
    '',
    'fastblocks-sync itself is under the MIT license (LICENSE in the repository). The JavaScript files in',
    'dist/ also contain the following packages, compiled in by @vercel/ncc (whose module loader is',
    "webpack's runtime, MIT, Copyright JS Foundation and other contributors). For each package: its",
    'version, declared license, the bundle files it is in, its copyright lines (from its license and',
    'NOTICE files and from the headers of the bundled source files), the full text of every license and',
    'NOTICE file it ships, and, where it ships no text of a license it declares, the standard text of',
    'that license from the SPDX License List.',
    '',
    'Generated by `npm run bundle` from the module list of the same build; do not edit.',
    '',
    `${packages.length} packages:`,
    ...packages.map((p) => `  ${`${p.name} ${p.version}`.padEnd(width)}  ${p.declared ?? '(none declared)'}`),
  ].join('\n');
}

function section(p) {
  const lines = [
    RULE,
    `${p.name} ${p.version}`,
    RULE,
    `License: ${p.declared ?? '(not declared in package.json; see the license file below)'}`,
  ];
  lines.push(`Bundled in: ${p.outputs.length ? p.outputs.join(', ') : '(no output file)'}`);
  if (p.repository) lines.push(`Repository: ${p.repository}`);
  if (p.author) lines.push(`Author: ${p.author}`);
  lines.push(
    'Copyright:',
    ...(p.copyright.length ? p.copyright.map((c) => `  ${c}`) : ['  (the package states no copyright line)']),
  );
  if (p.licenseFiles.length === 0)
    lines.push('', `The package ships no license file; its package.json declares the license ${p.declared}.`);
  for (const file of p.licenseFiles) lines.push('', `----- ${file.name} -----`, file.text);
  for (const text of p.standardTexts) {
    lines.push(
      '',
      `----- ${text.id} (${text.name}): standard text from the SPDX License List, as the package ships none -----`,
      text.text,
    );
  }
  for (const file of p.noticeFiles) lines.push('', `----- ${file.name} (NOTICE) -----`, file.text);
  return lines.join('\n');
}

export function renderNotices(packages) {
  const sorted = [...packages].sort((a, b) =>
    a.name === b.name ? a.version.localeCompare(b.version, 'en', { numeric: true }) : a.name < b.name ? -1 : 1,
  );
  return `${[header(sorted), ...sorted.map(section)].join('\n\n')}\n`;
}

/** One entry per name@version: two copies of one version in different folders are one package. */
export function noticesFromStats(stats, ownRoot) {
  const byId = new Map();
  for (const [dir, use] of bundledPackages(stats, ownRoot)) {
    const described = describePackage(dir, use);
    const id = `${described.name}@${described.version}`;
    const seen = byId.get(id);
    if (seen) seen.outputs = [...new Set([...seen.outputs, ...described.outputs])].sort();
    else byId.set(id, described);
  }
  return renderNotices([...byId.values()]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [statsFile, outFile] = process.argv.slice(2);
  if (!statsFile || !outFile) {
    console.error('usage: node scripts/notices.mjs <webpack-stats.json> <out-file>');
    process.exit(2);
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  writeFileSync(outFile, noticesFromStats(JSON.parse(readFileSync(statsFile, 'utf8')), root));
}
