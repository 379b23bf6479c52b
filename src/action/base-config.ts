// On a pull request, the files that choose *where* the tool reads and writes — the settings
// folder's app.yml (app name, storage prefix), storage.yml (buckets, prefix) and cache.yml (Redis) —
// come from the base commit, never from the pull request's head: otherwise a pull request could
// point a dry-run (with the workflow's credentials) at another bucket and print its keys in a
// public comment. Read with git when the checkout has the base commit, else from the contents API.

import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { gitRead } from '../core/git.js';
import { ActionError } from '../errors.js';
import { describeApiError, httpStatus, type Octokit } from './comment.js';
import type { PullRequestInfo, RepoRef } from './context.js';

export interface BaseConfig {
  /** For resolveApp: a settings file as the base commit has it, or null when it has none. */
  read(name: string): Promise<string | null>;
  /** One line per file the pull request changes, once the run has read them. */
  changedByPullRequest(): Promise<string[]>;
}

export interface BaseConfigOptions {
  workspace: string;
  /** The settings folder relative to the repository root, POSIX (e.g. `settings`, `app/settings`). */
  settingsDir: string;
  baseSha: string;
  repo: RepoRef;
  octokit: () => Octokit;
  timeoutMs: number;
}

/**
 * The pull request's base commit: from the event when it says (pull_request*, merge_group), else
 * asked from the API by its number (issue_comment, a refs/pull/ ref). '' when neither can tell.
 */
export async function pullRequestBaseSha(
  pr: PullRequestInfo | undefined,
  repo: RepoRef,
  octokit: () => Octokit,
): Promise<string> {
  if (!pr || pr.baseSha || !Number.isFinite(pr.number)) return pr?.baseSha ?? '';
  try {
    const { data } = await octokit().rest.pulls.get({ ...repo, pull_number: pr.number });
    return /^[0-9a-f]{40}$/i.test(data.base.sha) ? data.base.sha : '';
  } catch (error) {
    throw new ActionError(
      'error',
      `Cannot look up the base commit of pull request #${pr.number} ` +
        `(${describeApiError(error)}): on pull requests the settings that choose the bucket ` +
        `come from the base branch. Give the job 'pull-requests: read'.`,
      { cause: error },
    );
  }
}

export function baseConfig(options: BaseConfigOptions): BaseConfig {
  if (!/^[0-9a-f]{40}$/i.test(options.baseSha)) {
    throw new ActionError(
      'error',
      "Cannot tell the pull request's base commit (the event names no base commit): the " +
        'settings that choose the bucket are only read from it on events that run on a pull ' +
        'request.',
    );
  }
  const read = new Map<string, string | null>();
  let viaGit: Promise<boolean> | undefined;
  const fromGit = async (file: string): Promise<string | null> => {
    const shown = await gitRead(options.workspace, ['show', `${options.baseSha}:${file}`], {
      timeoutMs: options.timeoutMs,
    });
    if (shown.ok) return shown.stdout;
    // "does not exist in" / "exists on disk, but not in": the base has no such file.
    const why = shown.outside ? 'not a git work tree' : shown.why;
    if (/does not exist|exists on disk, but not in/.test(why)) return null;
    throw new ActionError(
      'error',
      `Cannot read ${file} at the base commit ${options.baseSha.slice(0, 12)} with git: ${why}`,
    );
  };
  const fromApi = async (file: string): Promise<string | null> => {
    try {
      const { data } = await options
        .octokit()
        .rest.repos.getContent({ ...options.repo, path: file, ref: options.baseSha });
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return null;
      return Buffer.from(data.content, 'base64').toString('utf8');
    } catch (error) {
      if (httpStatus(error) === 404) return null;
      throw new ActionError(
        'error',
        `Cannot read ${file} at the pull request's base commit ${options.baseSha.slice(0, 12)} ` +
          `(${describeApiError(error)}): on pull requests the settings that choose the bucket ` +
          'come from the base branch. ' +
          "Check out with 'fetch-depth: 0' (or fetch the base), or give the job 'contents: read'.",
        { cause: error },
      );
    }
  };
  const path = (name: string) => posix.join(options.settingsDir, name);
  return {
    async read(name) {
      const file = path(name);
      viaGit ??= hasCommit(options.workspace, options.baseSha);
      const text = (await viaGit) ? await fromGit(file) : await fromApi(file);
      read.set(file, text);
      return text;
    },
    async changedByPullRequest() {
      const notes: string[] = [];
      for (const [file, base] of read) {
        const head = await readFile(join(options.workspace, ...file.split('/')), 'utf8').catch(() => null);
        if (head === base) continue;
        notes.push(
          `This pull request ${base === null ? 'adds' : head === null ? 'removes' : 'changes'} ` +
            `${file}: the plan uses the base ` +
            `branch's ${base === null ? '(absent) file' : 'version'}. ` +
            'Where the tool reads and writes changes only once the pull request is merged.',
        );
      }
      return notes;
    },
  };
}

/** Whether the checkout has the commit (else its files come from the contents API). */
async function hasCommit(workspace: string, sha: string): Promise<boolean> {
  return (await gitRead(workspace, ['cat-file', '-e', `${sha}^{commit}`], { timeoutMs: 30_000 })).ok;
}
