// main.run() in-process with fakes for the runner (io), the targets and the cache: the
// orchestration rules that the dist scenarios do not cover one by one.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readable } from '../helpers/comment-html.js';
import type { ActionIO, Annotation } from '../../src/action/io.js';
import { annotate, collectAnnotations } from '../../src/action/summary.js';
import type { RunOverrides } from '../../src/action/run-targets.js';
import type { ActionSettings } from '../../src/action/inputs.js';
import { createOctokit } from '../../src/action/comment.js';
import { run } from '../../src/main.js';
import type { AnyTargetResult } from '../../src/targets/types.js';
import { startGitHubApi, type GitHubApiServer } from '../helpers/github-api.js';
import { report, settings as settingsResult, templates } from './fixtures.js';

interface FakeIO extends ActionIO {
  outputs: Record<string, string>;
  failed: string[];
  secrets: string[];
  logs: string[];
  annotations: { level: string; message: string; annotation?: Annotation }[];
  summary: string;
}

function fakeIO(inputs: Record<string, string>): FakeIO {
  const io: FakeIO = {
    outputs: {},
    failed: [],
    secrets: [],
    logs: [],
    annotations: [],
    summary: '',
    getInput: (name) => inputs[name] ?? '',
    setOutput: (name, value) => void (io.outputs[name] = value),
    setSecret: (value) => void io.secrets.push(value),
    setFailed: (message) => void io.failed.push(message),
    debug: () => {},
    info: (message) => void io.logs.push(message),
    notice: (message, annotation) => void io.annotations.push({ level: 'notice', message, annotation }),
    warning: (message, annotation) => void io.annotations.push({ level: 'warning', message, annotation }),
    error: (message, annotation) => void io.annotations.push({ level: 'error', message, annotation }),
    group: (_name, fn) => fn(),
    writeSummary: async (markdown) => void (io.summary += markdown),
  };
  return io;
}

let api: GitHubApiServer;
let dir: string;
beforeAll(async () => {
  api = await startGitHubApi();
  dir = await mkdtemp(join(tmpdir(), 'fbs-main-'));
});
afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => api.reset());

async function env(eventName: string, event: Record<string, unknown>, sha = 'sha-1') {
  const path = join(dir, `${eventName}-${Math.random()}.json`);
  await writeFile(path, JSON.stringify(event));
  return {
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: path,
    GITHUB_REPOSITORY: 'acme/site',
    // A workflow_dispatch or push runs on a branch; the pull request events on refs/pull/.
    GITHUB_REF: eventName.startsWith('pull_request') ? 'refs/pull/5/merge' : 'refs/heads/main',
    GITHUB_SHA: sha,
    GITHUB_API_URL: api.url,
    GITHUB_WORKSPACE: dir,
    RUNNER_TEMP: dir,
  };
}

const BASE_SHA = 'b'.repeat(40);
const prEvent = {
  number: 5,
  pull_request: {
    number: 5,
    base: { ref: 'main', sha: BASE_SHA, repo: { full_name: 'acme/site' } },
    head: { repo: { full_name: 'acme/site' } },
  },
};

function recordingTargets(results: (s: ActionSettings, r: RunOverrides) => AnyTargetResult[]) {
  const calls: { settings: ActionSettings; run: RunOverrides }[] = [];
  return {
    calls,
    runTargets: async (s: ActionSettings, r: RunOverrides) => {
      calls.push({ settings: s, run: r });
      return results(s, r);
    },
  };
}

const noCache = { isAvailable: () => false, restore: async () => undefined, save: async () => {} };
const deps = (
  io: FakeIO,
  e: Record<string, string>,
  runTargets: ReturnType<typeof recordingTargets>['runTargets'],
) => ({
  io,
  env: e,
  runTargets,
  octokit: createOctokit,
  cache: noCache,
  artifact: { upload: async () => ({ id: 1 }) },
});

describe('run()', () => {
  it("pull-cache failures are warnings, never the run's failure", async () => {
    const targets = recordingTargets((_s, r) => [
      templates(
        report({
          dryRun: r.dryRun,
          direction: 'pull',
          synced: [{ path: 'a.html', action: 'download', change: 'create' }],
        }),
      ),
    ]);
    const broken = {
      isAvailable: () => {
        throw new Error('cache service exploded');
      },
      restore: async () => undefined,
      save: async () => {},
    };
    const io = fakeIO({ bucket: 'b-1', direction: 'pull', 'pull-cache': 'true', comment: 'never' });
    await run({ ...deps(io, await env('push', {}), targets.runTargets), cache: broken });
    expect(io.failed).toEqual([]);
    expect(io.outputs['failure-reason']).toBe('');
    const warnings = io.annotations.filter((a) => a.level === 'warning').map((a) => a.message);
    expect(warnings).toContain(
      'pull-cache: restore failed (cache service exploded); the sync downloads what it needs.',
    );
    expect(warnings).toContain(
      'pull-cache: save failed (cache service exploded); the next run downloads these files again.',
    );
  });

  it('runs a pull_request as a dry-run for the base branch replica unless dry-run is explicitly false', async () => {
    const targets = recordingTargets((_s, r) => [
      templates(report({ dryRun: r.dryRun, synced: [{ path: 'a.html', action: 'upload', change: 'create' }] })),
    ]);
    const io = fakeIO({ bucket: 'b-1', 'github-token': 't' });
    await run(deps(io, await env('pull_request', prEvent), targets.runTargets));
    expect(targets.calls[0]!.run).toMatchObject({ dryRun: true, replica: 'acme/site@main' });
    expect(io.failed).toEqual([]);
    expect(io.outputs).toMatchObject({
      changed: 'true',
      'synced-count': '1',
      'failure-reason': '',
      'plan-hash': expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(readable(io.summary)).toContain(
      "pull_request event: dry run. The Action writes from a pull request only when 'dry-run' is explicitly 'false'.",
    );

    const explicit = fakeIO({ bucket: 'b-1', 'github-token': 't', 'dry-run': 'false', comment: 'never' });
    await run(deps(explicit, await env('pull_request', prEvent), targets.runTargets));
    expect(targets.calls[1]!.run.dryRun).toBe(false);
  });

  it('never writes on pull_request_target, whatever dry-run says, and says so', async () => {
    const targets = recordingTargets((_s, r) => [templates(report({ dryRun: r.dryRun }))]);
    const io = fakeIO({ bucket: 'b-1', 'github-token': 't', 'dry-run': 'false', comment: 'never' });
    await run(deps(io, await env('pull_request_target', prEvent), targets.runTargets));
    expect(targets.calls[0]!.run.dryRun).toBe(true);
    expect(io.logs.join('\n')).toContain(
      "pull_request_target event: dry run although 'dry-run' is 'false'. This event never " +
        'writes; deploy previews from pull_request events.',
    );
    expect(io.summary).toMatch(/^> pull&#95;request&#95;target event/m);
    expect(readable(io.summary)).toContain("pull_request_target event: dry run although 'dry-run' is 'false'");
  });

  it(
    'treats every event that runs on a pull request like pull_request: dry run unless ' +
      'dry-run is explicitly false, settings from the base commit',
    async () => {
      const OTHER_BASE = 'c'.repeat(40);
      api.pulls.set(7, {
        number: 7,
        state: 'open',
        base: { ref: 'main', sha: OTHER_BASE },
        head: { sha: 'd'.repeat(40) },
      });
      const events: [string, Record<string, unknown>, Record<string, string>, string][] = [
        ['pull_request_review', { review: { state: 'approved' }, ...prEvent }, {}, BASE_SHA],
        ['pull_request_review_comment', { comment: { body: 'nit' }, ...prEvent }, {}, BASE_SHA],
        [
          'merge_group',
          { merge_group: { base_ref: 'refs/heads/main', base_sha: OTHER_BASE, head_sha: 'e'.repeat(40) } },
          { GITHUB_REF: 'refs/heads/gh-readonly-queue/main/pr-7-abc' },
          OTHER_BASE,
        ],
        // The base commit of a comment's pull request is not in the event: asked from the API.
        [
          'issue_comment',
          { issue: { number: 7, pull_request: { url: 'x' } }, comment: { body: '/deploy' } },
          { GITHUB_REF: 'refs/heads/main' },
          OTHER_BASE,
        ],
        // Any event on a refs/pull/ ref.
        ['workflow_run', {}, { GITHUB_REF: 'refs/pull/7/merge' }, OTHER_BASE],
      ];
      for (const [eventName, event, extra, base] of events) {
        const targets = recordingTargets((_s, r) => [
          templates(report({ dryRun: r.dryRun, synced: [{ path: 'a.html', action: 'upload', change: 'create' }] })),
        ]);
        const io = fakeIO({ bucket: 'b-1', 'github-token': 't', comment: 'never' });
        await run(deps(io, { ...(await env(eventName, event)), ...extra }, targets.runTargets));
        expect(io.failed, eventName).toEqual([]);
        expect(targets.calls[0]!.run.dryRun, eventName).toBe(true);
        expect(io.logs.join('\n'), eventName).toContain(
          `${eventName} event: dry run. The Action writes from a pull request only when ` +
            `'dry-run' is explicitly 'false'.`,
        );
        api.contents.set(`${base}:settings/storage.yml`, `prefix: ${eventName}\n`);
        expect(await targets.calls[0]!.run.readConfigFile!('storage.yml'), eventName).toBe(`prefix: ${eventName}\n`);
        const explicit = fakeIO({ bucket: 'b-1', 'github-token': 't', comment: 'never', 'dry-run': 'false' });
        await run(deps(explicit, { ...(await env(eventName, event)), ...extra }, targets.runTargets));
        expect(targets.calls[1]!.run.dryRun, eventName).toBe(false);
      }
      // An issue comment on an issue (not a pull request) and a push are not pull request runs.
      for (const [eventName, event] of [
        ['issue_comment', { issue: { number: 8 }, comment: { body: 'hi' } }],
        ['push', {}],
      ] as const) {
        const targets = recordingTargets((_s, r) => [templates(report({ dryRun: r.dryRun }))]);
        await run(
          deps(
            fakeIO({ bucket: 'b-1', comment: 'never' }),
            { ...(await env(eventName, event)), GITHUB_REF: 'refs/heads/main' },
            targets.runTargets,
          ),
        );
        expect(targets.calls[0]!.run.dryRun, eventName).toBe(false);
        expect(targets.calls[0]!.run.readConfigFile, eventName).toBeUndefined();
      }
    },
  );

  it('on a pull request, reads the settings that choose the bucket from the base commit, never the head', async () => {
    const targets = recordingTargets((_s, r) => [templates(report({ dryRun: r.dryRun }))]);
    const io = fakeIO({ bucket: 'b-1', 'github-token': 't', comment: 'never' });
    await run(deps(io, await env('pull_request', prEvent), targets.runTargets));
    const read = targets.calls[0]!.run.readConfigFile!;
    api.contents.set(`${BASE_SHA}:settings/storage.yml`, 'buckets:\n  templates: base-bucket\n');
    expect(await read('storage.yml')).toBe('buckets:\n  templates: base-bucket\n');
    expect(await read('cache.yml')).toBeNull();
    expect(api.requestsTo('GET', /^\/repos\/acme\/site\/contents\/settings(\/|%2F)storage\.yml$/)[0]!.url).toContain(
      `ref=${BASE_SHA}`,
    );
    // Not on a push: the checkout is what was merged.
    await run(deps(fakeIO({ bucket: 'b-1', comment: 'never' }), await env('push', {}), targets.runTargets));
    expect(targets.calls[1]!.run.readConfigFile).toBeUndefined();
  });

  it(
    'warns when the token posts as someone else than comment-author (its comment would ' + 'never be found or trusted)',
    async () => {
      const targets = recordingTargets((_s, r) => [templates(report({ dryRun: r.dryRun }))]);
      api.tokenUser = { login: 'deploy-bot', type: 'User' };
      const io = fakeIO({ bucket: 'b-1', 'github-token': 't' });
      await run(deps(io, await env('pull_request', prEvent), targets.runTargets));
      expect(io.annotations.map((a) => a.message)).toContain(
        'The github-token posts as deploy-bot, but comment-author is github-actions[bot]: set ' +
          "'comment-author: deploy-bot' so the Action finds this comment again instead of adding " +
          'another, and trusts its plan for require-approved-plan.',
      );
      const told = fakeIO({ bucket: 'b-1', 'github-token': 't', 'comment-author': 'deploy-bot' });
      await run(deps(told, await env('pull_request', prEvent), targets.runTargets));
      expect(told.annotations).toEqual([]);
      expect(api.commentsOn(5)).toHaveLength(1);
    },
  );

  it('keeps the local state (journal, backups) under RUNNER_TEMP, never in the checkout', async () => {
    const targets = recordingTargets(() => []);
    await run(deps(fakeIO({ bucket: 'b-1', comment: 'never' }), await env('push', {}), targets.runTargets));
    const state = targets.calls[0]!.run.localStateDir!;
    expect(state.startsWith(join(dir, 'fastblocks-sync'))).toBe(true);
  });

  it('on a push with comment auto, only updates an existing comment on the merged PR', async () => {
    const targets = recordingTargets(() => [templates(report({ dryRun: false }))]);
    api.pullsByCommit.set('sha-p', [{ number: 12, merged_at: '2026-11-27T00:00:00Z', merge_commit_sha: 'sha-p' }]);
    const io = fakeIO({ bucket: 'b-1', 'github-token': 't' });
    await run(deps(io, await env('push', {}, 'sha-p'), targets.runTargets));
    expect(api.commentsOn(12)).toHaveLength(0);
    expect(io.logs.join('\n')).toContain('PR #12 has no fastblocks-sync comment to update');

    const always = fakeIO({ bucket: 'b-1', 'github-token': 't', comment: 'always' });
    await run(deps(always, await env('push', {}, 'sha-p'), targets.runTargets));
    expect(api.commentsOn(12)).toHaveLength(1);
    await run(deps(fakeIO({ bucket: 'b-1', 'github-token': 't' }), await env('push', {}, 'sha-p'), targets.runTargets));
    expect(api.commentsOn(12)).toHaveLength(1);
  });

  it('gates a workflow_dispatch run with require-approved-plan like a push', async () => {
    const targets = recordingTargets(() => [
      templates(report({ synced: [{ path: 'a.html', action: 'upload', change: 'create' }] })),
    ]);
    const io = fakeIO({ bucket: 'b-1', 'github-token': 't', 'require-approved-plan': 'true', comment: 'never' });
    await run(deps(io, await env('workflow_dispatch', {}, 'sha-unmerged'), targets.runTargets));
    expect(io.outputs['failure-reason']).toBe('plan-changed');
    expect(io.failed[0]).toContain('does not come from a merged pull request');
    expect(targets.calls).toHaveLength(0);
  });

  it('fails with validation for invalid files, and scrubs secrets from every report', async () => {
    const secret = 'sup3r-s3cret';
    const rep = report({
      dryRun: false,
      local: join(dir, 'settings'),
      invalid: [{ path: 'app.yml', side: 'local', message: `bad value ${secret}`, line: 2, column: 3 }],
    });
    const targets = recordingTargets(() => [settingsResult(rep)]);
    const io = fakeIO({ bucket: 'b-1', target: 'settings', 'reload-secret': secret, comment: 'never' });
    await run(deps(io, await env('push', {}), targets.runTargets));
    expect(io.secrets).toEqual([secret]);
    expect(io.outputs['failure-reason']).toBe('validation');
    expect(io.failed).toEqual([
      '1 invalid file(s) were refused and not synced (see the annotations and the job summary).',
    ]);
    expect(io.annotations[0]).toMatchObject({
      level: 'error',
      annotation: { file: 'settings/app.yml', startLine: 2, startColumn: 3 },
    });
    const all = [
      io.summary,
      JSON.stringify(io.annotations),
      io.logs.join('\n'),
      await readFile(io.outputs['report-file']!, 'utf8'),
    ].join('\n');
    expect(all).not.toContain(secret);
    expect(all).toContain('bad value ***');
  });

  it('turns a thrown error into failure-reason error, with the summary written', async () => {
    const io = fakeIO({ bucket: 'b-1' });
    await run(
      deps(io, await env('push', {}), async () => {
        throw new Error('NoSuchBucket: b-1 does not exist');
      }),
    );
    expect(io.outputs['failure-reason']).toBe('error');
    expect(io.failed).toEqual(['NoSuchBucket: b-1 does not exist']);
    expect(readable(io.summary)).toContain('Failed (error): NoSuchBucket: b-1 does not exist');
  });

  it('passes app-root, strategy and replica through to the targets', async () => {
    const targets = recordingTargets(() => []);
    const io = fakeIO({
      bucket: 'b-1',
      'app-root': 'site',
      replica: 'custom@x',
      direction: 'pull',
      'max-concurrent': '3',
      comment: 'never',
    });
    await run(deps(io, await env('push', {}), targets.runTargets));
    expect(targets.calls[0]!.run).toMatchObject({ appRoot: join(dir, 'site'), replica: 'custom@x', dryRun: false });
    expect(targets.calls[0]!.settings).toMatchObject({ direction: 'pull', maxConcurrent: 3 });
    expect(io.failed).toEqual([]);
  });
});

describe('annotations', () => {
  it('puts invalid YAML on the file and line, conflicts on the file, capped with one "N more" line', () => {
    const rep = report({
      local: join(dir, 'templates'),
      invalid: [{ path: 'x.yml', side: 'local', message: 'duplicate key', line: 4, column: 2 }],
      conflicts: Array.from({ length: 14 }, (_, i) => ({
        path: `p${i}.html`,
        kind: 'modify/modify' as const,
        resolution: 'local-wins' as const,
        reason: 'newest',
      })),
    });
    const io = fakeIO({});
    annotate(io, collectAnnotations([templates(rep)], dir));
    const errors = io.annotations.filter((a) => a.level === 'error');
    const warnings = io.annotations.filter((a) => a.level === 'warning');
    expect(errors).toEqual([
      {
        level: 'error',
        message: 'duplicate key (not synced)',
        annotation: { title: 'Invalid file', file: 'templates/x.yml', startLine: 4, startColumn: 2 },
      },
    ]);
    expect(warnings).toHaveLength(10);
    expect(warnings[0]!.annotation).toMatchObject({ file: 'templates/p0.html', title: 'Sync conflict' });
    expect(warnings[9]!.message).toBe('5 more warnings — see the job summary and the report file.');
  });

  it('a fallback the run took (git times unavailable) is a warning annotation, not only a line in the report', () => {
    const rep = report({
      local: join(dir, 'templates'),
      warnings: [
        {
          path: '',
          message: "Modification times fall back to the files' mtimes: git could not read x",
          fallback: true,
        },
        { path: '', message: 'Recovered interrupted run r of x: 1 remote object(s) restored.' },
      ],
    });
    const io = fakeIO({});
    annotate(io, collectAnnotations([templates(rep)], dir));
    expect(io.annotations).toEqual([
      {
        level: 'warning',
        message: "Modification times fall back to the files' mtimes: git could not read x",
        annotation: { title: 'Sync warning' },
      },
    ]);
  });
});
