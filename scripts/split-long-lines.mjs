#!/usr/bin/env node
// Keeps lines under 120 characters where Prettier cannot: it formats a copy of the tree, finds the
// lines still longer, and in the real files splits the string literals on them at spaces into
// concatenations (`'…' + '…'`, values unchanged) and rewraps one-line comments; Prettier then lays
// them out. Run it before `npm run format`, e.g. after merging a branch that added long lines:
//
//   node scripts/split-long-lines.mjs && npm run format && npm run lint
//
// It prints the long lines it could not shorten (a template literal nesting others, a string
// without spaces): those are for a person.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const repo = process.argv[2] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(repo, 'package.json'));
const ts = require('typescript');
const MAX = 120;
const tmp = path.join(tmpdir(), `split-long-lines-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
for (const entry of [
  'src',
  'test',
  'bench',
  'scripts',
  'bin',
  'vitest.config.ts',
  'eslint.config.js',
  '.prettierrc.json',
  '.prettierignore',
]) {
  cpSync(path.join(repo, entry), path.join(tmp, entry), { recursive: true });
}
execFileSync(path.join(repo, 'node_modules/.bin/prettier'), ['--write', '.'], { cwd: tmp, stdio: 'ignore' });
const files = execFileSync(
  'bash',
  [
    '-c',
    "grep -rln '.\\{121,\\}' src test bench scripts bin --include=*.ts --include=*.mjs " +
      '--include=*.js --include=*.mts || true',
  ],
  { cwd: tmp, encoding: 'utf8' },
)
  .split('\n')
  .filter(Boolean);

const kindOf = (f) => (f.endsWith('.ts') || f.endsWith('.mts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
const isStringish = (n) => ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateExpression(n);
const skipParent = (n) => {
  const p = n.parent;
  if (!p) return true;
  if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isExternalModuleReference(p)) return true;
  if (ts.isLiteralTypeNode(p) || ts.isTaggedTemplateExpression(p)) return true;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertySignature(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isEnumMember(p)) &&
    p.name === n
  )
    return true;
  if (ts.isExpressionStatement(p)) return true; // directives
  if (ts.isImportTypeNode?.(p)) return true;
  return false;
};
function cooked(n) {
  if (ts.isTemplateExpression(n)) return n.getText();
  return n.text;
}
function collect(sf) {
  const out = [];
  const visit = (n) => {
    if (isStringish(n)) out.push(n);
    if (!ts.isTemplateExpression(n)) ts.forEachChild(n, visit);
    else n.templateSpans.forEach((s) => ts.forEachChild(s.expression, visit));
  };
  visit(sf);
  return out;
}
/** Split points (indexes in raw, after which to cut) so that no piece exceeds `width`. */
function cuts(raw, width, template) {
  const spaces = [];
  let depth = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (template && c === '$' && raw[i + 1] === '{') depth++;
    else if (template && c === '}' && depth > 0) depth--;
    else if (c === '\\') i++;
    else if (c === ' ' && depth === 0 && i > 0 && i < raw.length - 1) spaces.push(i);
  }
  const result = [];
  let start = 0;
  // A piece must hold text of its own, not only a ${…}.
  const textual = (piece) => piece.replace(/\$\{[^}]*\}/g, '').trim().length >= 3;
  while (raw.length - start > width) {
    const ok = (s) => s > start + 10 && textual(raw.slice(start, s + 1)) && textual(raw.slice(s + 1));
    const candidates = spaces.filter((s) => ok(s) && s - start <= width);
    const at = candidates.at(-1) ?? spaces.find(ok);
    if (at === undefined) break;
    result.push(at);
    start = at + 1;
  }
  return result;
}
/** `source` with the one-line comment `line` (as Prettier printed it) rewrapped, or null. */
function rewrapComment(source, line) {
  const doc = /^\/\*\*\s(.*)\s\*\/$/.exec(line);
  const slashes = /^\/\/\s(.*)$/.exec(line);
  if (!doc && !slashes) return null;
  const lines = source.split('\n');
  const at = lines.findIndex((l) => l.trim() === line);
  if (at < 0) return null;
  const indent = /^\s*/.exec(lines[at])[0];
  const words = (doc ?? slashes)[1].split(' ');
  const width = MAX - 2 - indent.length - 3;
  const wrapped = [];
  for (const word of words) {
    const last = wrapped.at(-1);
    if (last !== undefined && last.length + 1 + word.length <= width) wrapped[wrapped.length - 1] = `${last} ${word}`;
    else wrapped.push(word);
  }
  const replacement = doc
    ? [`${indent}/**`, ...wrapped.map((w) => `${indent} * ${w}`), `${indent} */`]
    : wrapped.map((w) => `${indent}// ${w}`);
  lines.splice(at, 1, ...replacement);
  return lines.join('\n');
}

let changed = 0;
const unhandled = [];
for (const file of files) {
  const formatted = readFileSync(path.join(tmp, file), 'utf8');
  const fsf = ts.createSourceFile(file, formatted, ts.ScriptTarget.Latest, true, kindOf(file));
  const lines = formatted.split('\n');
  // Lines holding a regular expression may run longer (eslint.config.js: it cannot be split as it is).
  const regexLines = new Set();
  const findRegex = (n) => {
    if (n.kind === ts.SyntaxKind.RegularExpressionLiteral)
      regexLines.add(fsf.getLineAndCharacterOfPosition(n.getStart()).line);
    ts.forEachChild(n, findRegex);
  };
  findRegex(fsf);
  const long = new Set(lines.map((l, i) => (l.length > MAX && !regexLines.has(i) ? i : -1)).filter((i) => i >= 0));
  const targets = new Map();
  for (const n of collect(fsf)) {
    const start = fsf.getLineAndCharacterOfPosition(n.getStart()).line;
    const end = fsf.getLineAndCharacterOfPosition(n.getEnd()).line;
    for (let l = start; l <= end; l++)
      if (long.has(l) && n.getText().length > 30 && !skipParent(n)) targets.set(cooked(n), n);
  }
  const covered = new Set();
  for (const n of targets.values()) {
    const s = fsf.getLineAndCharacterOfPosition(n.getStart()).line;
    const e = fsf.getLineAndCharacterOfPosition(n.getEnd()).line;
    for (let l = s; l <= e; l++) covered.add(l);
  }
  const original = readFileSync(path.join(repo, file), 'utf8');
  let rewrapped = original;
  for (const l of long) {
    if (covered.has(l)) continue;
    const next = rewrapComment(rewrapped, lines[l].trim());
    if (next === null) unhandled.push(`${file}:${l + 1}: ${lines[l].trim().slice(0, 140)}`);
    else rewrapped = next;
  }
  if (rewrapped !== original) {
    writeFileSync(path.join(repo, file), rewrapped);
    changed++;
  }
  if (targets.size === 0) continue;
  const osf = ts.createSourceFile(file, rewrapped, ts.ScriptTarget.Latest, true, kindOf(file));
  const edits = [];
  for (const n of collect(osf)) {
    const key = cooked(n);
    if (!targets.has(key) || skipParent(n)) continue;
    const text = n.getText();
    const quote = text[0];
    const raw = text.slice(1, -1);
    const template = quote === '`';
    const width = 85;
    const points = cuts(raw, width, template);
    if (points.length === 0) continue;
    const pieces = [];
    let from = 0;
    for (const p of points) {
      pieces.push(raw.slice(from, p + 1));
      from = p + 1;
    }
    pieces.push(raw.slice(from));
    const literal = (p) => {
      if (quote === '`' && !p.includes('${') && !/['\\\n]/.test(p)) return `'${p}'`;
      return `${quote}${p}${quote}`;
    };
    const joined = pieces.map(literal).join(' + ');
    edits.push({ start: n.getStart(), end: n.getEnd(), text: `(${joined})` });
  }
  edits.sort((a, b) => b.start - a.start);
  let out = rewrapped;
  let limit = Number.POSITIVE_INFINITY;
  for (const e of edits) {
    // A literal inside another one's ${…} is left for the next run: edits never overlap.
    if (e.end > limit) continue;
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    limit = e.start;
  }
  if (out !== rewrapped) {
    writeFileSync(path.join(repo, file), out);
    changed += edits.length;
  }
}
rmSync(tmp, { recursive: true, force: true });
console.log(`${changed} change(s) made`);
if (unhandled.length > 0) console.log(`Still over ${MAX} characters, for a person:\n${unhandled.join('\n')}`);
