// Deterministic template-like trees for the benchmark, and the 1% change applied between runs.
//
// makeDataset(dir, { count, seed }) writes `count` text files of 1–20 KiB (FastBlocks-style
// templates: Jinja-ish HTML, a few Markdown and YAML files) under templates/<area>/<group>[/<variant>],
// with ~2% of names holding a space and ~1% a non-ASCII letter. Every byte depends only on count and
// seed (a splitmix32 generator), and every mtime is one fixed instant, so size+mtime tools and
// content-hash tools see identical trees on every machine. A finished tree carries a `.complete`
// marker outside the tree (dir + '.complete') so a cached data set is reused only when whole.
//
// As a CLI: node bench/dataset.mjs <dir> [count=2000] [seed=7]

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export const FIXED_MTIME = new Date('2025-01-01T00:00:00Z');

function splitmix32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return ((z ^ (z >>> 15)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'order invoice customer account cart product price total shipping billing address email status ' +
  'header footer nav sidebar card grid panel modal form input button label table row cell list item ' +
  'title summary detail notice alert success warning error welcome reset password profile settings ' +
  'report chart metric daily weekly monthly export import search filter sort page next previous'
).split(' ');
const AREAS = ['email', 'pages', 'partials', 'layouts', 'admin', 'blocks', 'reports', 'public'];
const GROUPS = ['orders', 'users', 'billing', 'catalog', 'shared', 'legacy', 'marketing'];
const VARIANTS = ['v1', 'v2', 'mobile', 'print', 'dark'];
const EXTENSIONS = ['.html', '.html', '.html', '.jinja2', '.md', '.txt', '.yml'];
const TAGS = ['div', 'p', 'span', 'section', 'li', 'td', 'h3', 'a'];

export function makeDataset(dir, { count = 2000, seed = 7 } = {}) {
  const marker = `${dir}.complete`;
  if (fs.existsSync(marker) && fs.existsSync(dir)) return JSON.parse(fs.readFileSync(marker, 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(marker, { force: true });
  const rnd = splitmix32(seed);
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const made = new Set();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const parts = ['templates', pick(AREAS)];
    const depth = rnd();
    if (depth > 0.25) parts.push(pick(GROUPS));
    if (depth > 0.65) parts.push(pick(VARIANTS));
    let name = `${pick(WORDS)}-${pick(WORDS)}-${String(i).padStart(6, '0')}`;
    const odd = rnd();
    if (odd < 0.02) name = name.replace('-', ' ');
    else if (odd < 0.03) name += '-café';
    const ext = pick(EXTENSIONS);
    const size = 1024 + Math.floor(rnd() * 19 * 1024);
    let text = `{# ${parts.join('/')}/${name}${ext} #}\n{% extends "base.html" %}\n{% block content %}\n`;
    while (text.length < size) {
      const tag = pick(TAGS);
      let line = `  <${tag} class="${pick(WORDS)}-${pick(WORDS)}">`;
      const words = 3 + Math.floor(rnd() * 12);
      for (let w = 0; w < words; w++) line += rnd() < 0.12 ? ` {{ ${pick(WORDS)}.${pick(WORDS)} }}` : ` ${pick(WORDS)}`;
      text += `${line} </${tag}>\n`;
    }
    // ASCII body except the name in the first line, so cut on bytes, not characters.
    const body = Buffer.from(text).subarray(0, size);
    const folder = path.join(dir, ...parts);
    if (!made.has(folder)) {
      fs.mkdirSync(folder, { recursive: true });
      made.add(folder);
    }
    const file = path.join(folder, name + ext);
    fs.writeFileSync(file, body);
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
    bytes += body.length;
  }
  const summary = { count, seed, bytes, folders: made.size };
  fs.writeFileSync(marker, JSON.stringify(summary));
  return summary;
}

/** Relative POSIX paths of the regular files under dir, in UTF-8 byte order (S3's order). */
export function listFiles(dir, { skip = '.fastblocks-sync' } = {}) {
  const out = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (rel === '' && entry.name === skip) continue;
      const key = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(key);
      else if (entry.isFile()) out.push(key);
    }
  };
  walk('');
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** path → MD5 of every file under dir (the tool folder left out). */
export function treeDigest(dir) {
  const digest = new Map();
  for (const key of listFiles(dir))
    digest.set(
      key,
      createHash('md5')
        .update(fs.readFileSync(path.join(dir, ...key.split('/'))))
        .digest('hex'),
    );
  return digest;
}

/**
 * The 1% change: every 100th file in byte order is modified (even ones overwritten in place at
 * the same size, odd ones appended to) and touched; five files spread over the tree are deleted.
 * With 2,000 files: 20 modified and 5 deleted, the same files peers.sh picks.
 */
export function mutate(dir) {
  const files = listFiles(dir);
  const modified = [];
  for (let i = 0; i < files.length; i += 100) {
    const file = path.join(dir, ...files[i].split('/'));
    if ((i / 100) % 2 === 0) {
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, 'MODIFIED', 0);
      fs.closeSync(fd);
    } else {
      fs.appendFileSync(file, '\n<!-- modified -->\n');
    }
    const now = new Date();
    fs.utimesSync(file, now, now);
    modified.push(files[i]);
  }
  const step = Math.floor(files.length / 5);
  const deleted = [];
  for (let k = 0; k < 5; k++) {
    const i = k * step + 50;
    if (i < files.length && i % 100 !== 0) {
      fs.rmSync(path.join(dir, ...files[i].split('/')));
      deleted.push(files[i]);
    }
  }
  return { modified: modified.length, deleted: deleted.length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, count = '2000', seed = '7'] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node bench/dataset.mjs <dir> [count] [seed]');
    process.exit(2);
  }
  console.log(JSON.stringify(makeDataset(path.resolve(dir), { count: Number(count), seed: Number(seed) })));
}
