// Regenerates docs/review-plan.png, the picture of "Reviewing a plan" in the README: the PR comment
// of the issue-11 fixture (a pull request dry-run of `all` with 2,000 template creations, 3
// overwrites, 1 deletion, 1 unresolved conflict and 1 invalid settings file), rendered by
// GitHub's own Markdown parser (cmark-gfm, Debian package `cmark-gfm`), styled with
// github-markdown-css, and photographed by headless Chromium (Debian package `chromium`).
//
//   npx tsx scripts/review-screenshot.ts [out.png]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMENT_LIMIT, commentBody, marker } from '../src/action/comment.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { reviewFixture } from '../test/action/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'review-plan.png'));

const planHash = '5e1fa0c2d94b7e31a8c6f0b2e4d71c39';
const key = 'all:my-app-prod/site';
const markdown = renderMarkdown(
  reviewFixture(),
  {
    target: 'all',
    dryRun: true,
    planHash,
    workspace: '/home/runner/work/site/site',
    runUrl: 'https://github.com/acme/site/actions/runs/4242',
    fullPlan: {
      url: 'https://github.com/acme/site/actions/runs/4242/artifacts/1337',
      name: 'fastblocks-sync-plan-all-3f9a1c2e',
    },
    failure: {
      reason: 'manual-conflicts',
      message:
        'Manual conflict resolution required: 1 unresolved conflict(s); nothing was written. See the job summary.',
    },
    notes: [
      "pull_request event: dry run. The Action writes from a pull request only when 'dry-run' is explicitly 'false'.",
    ],
  },
  { maxLength: COMMENT_LIMIT - marker(key, planHash).length - 1 },
);
const body = commentBody(key, planHash, markdown);
if (body.length > COMMENT_LIMIT)
  throw new Error(`the comment has ${body.length} characters, over GitHub's ${COMMENT_LIMIT}`);

const html = githubAlerts(
  execFileSync('cmark-gfm', ['--unsafe', '-e', 'table', '-e', 'strikethrough', '-e', 'autolink', '-e', 'tagfilter'], {
    input: body,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  }),
);
const css = readFileSync(path.join(root, 'node_modules', 'github-markdown-css', 'github-markdown-light.css'), 'utf8');
const page =
  `<!doctype html><html><head><meta charset="utf-8"><style>${css}
body { margin: 0; ` +
  `background: #fff; }
.comment { box-sizing: border-box; max-width: 980px; margin: ` +
  `16px; border: 1px solid #d0d7de; border-radius: 6px; }
.comment-header { padding: 8px ` +
  '16px; background: #f6f8fa; border-bottom: 1px solid #d0d7de; font: 14px ' +
  '-apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #57606a; ' +
  `}
.markdown-body { padding: 16px; font-size: 14px; }
</style></head><body><div ` +
  'class="comment"><div class="comment-header"><b>github-actions</b> bot ' +
  `commented</div><div class="markdown-body">${html}</div></div></body></html>`;

const work = mkdtempSync(path.join(tmpdir(), 'fbs-screenshot-'));
try {
  writeFileSync(path.join(work, 'comment.html'), page);
  execFileSync(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      `--user-data-dir=${path.join(work, 'profile')}`,
      `--screenshot=${out}`,
      '--window-size=1012,1690',
      `file://${path.join(work, 'comment.html')}`,
    ],
    { stdio: 'ignore' },
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${out}: the comment (${body.length} of ${COMMENT_LIMIT} characters) as GitHub renders it`);

/** GitHub shows `> [!NOTE]` blockquotes as alerts (after cmark-gfm); the same markup github-markdown-css styles. */
function githubAlerts(rendered: string): string {
  return rendered.replace(
    /<blockquote>\n<p>\[!(NOTE|CAUTION|WARNING|TIP|IMPORTANT)\]\n?([\s\S]*?)<\/blockquote>/g,
    (_, kind: string, rest: string) => {
      const name = kind.charAt(0) + kind.slice(1).toLowerCase();
      return (
        `<div class="markdown-alert markdown-alert-${kind.toLowerCase()}"><p ` +
        `class="markdown-alert-title">${name}</p><p>${rest}</div>`
      );
    },
  );
}
