// The full plan outlives the job: the JSON report and the full Markdown plan are written to a
// folder of the workspace (`report-path`) and uploaded as a workflow artifact with
// @actions/artifact; the PR comment and the job summary link to it. An upload that cannot be made
// is a warning, never the run's failure: the job summary still has the report.

import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
// Only the upload half of @actions/artifact is bundled. Its client class also loads the download
// code, whose unzip dependency (`buffers`) declares no license and ships none: it cannot be
// redistributed in dist/. The package's exports map hides the module, hence the path (and the
// version pinned to 6.2.x in package.json: an internal path may move in another minor version).
import { uploadArtifact } from '../../node_modules/@actions/artifact/lib/internal/upload/upload-artifact.js';
import { errorMessage } from '../errors.js';
import type { ActionContext } from './context.js';

/** The part of @actions/artifact the Action uses; injected so unit tests need no artifact service. */
export interface ArtifactUploader {
  /** Uploads the files (under `root`) as one artifact; returns its id. */
  upload(name: string, files: string[], root: string): Promise<{ id: number }>;
}

export const actionsArtifactUploader: ArtifactUploader = {
  upload: async (name, files, root) => {
    const { id } = await uploadArtifact(name, files, root);
    if (id === undefined) throw new Error('the artifact service returned no artifact id');
    return { id };
  },
};

type Env = Readonly<Record<string, string | undefined>>;

/** Why artifacts cannot be uploaded here (outside Actions, on GitHub Enterprise Server), or null. */
export function artifactUnavailable(env: Env, serverUrl: string): string | null {
  if (!env.ACTIONS_RUNTIME_TOKEN || !env.ACTIONS_RESULTS_URL)
    return 'the Actions artifact service is not available here (no ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL)';
  // @actions/artifact 2+ (artifacts v4) does not support GitHub Enterprise Server.
  const host = new URL(serverUrl).hostname.toLowerCase();
  if (host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost'))
    return `artifacts v4 are not supported on GitHub Enterprise Server (${host})`;
  return null;
}

/** Where GitHub shows an uploaded artifact (what actions/upload-artifact reports as `artifact-url`). */
export function artifactUrl(context: Pick<ActionContext, 'serverUrl' | 'repo' | 'runId'>, id: number): string {
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
  return `${run}/artifacts/${id}`;
}

/**
 * The artifact's name: unique per step of a run attempt (a run may sync several targets or buckets
 * in several steps, and a name can be uploaded only once per run), readable in the run's list.
 */
export function artifactName(target: string, commentKey: string, env: Env, attempt: number): string {
  const step = [env.GITHUB_JOB ?? '', env.GITHUB_ACTION ?? '', commentKey].join('\n');
  const id = createHash('sha256').update(step).digest('hex').slice(0, 8);
  return `fastblocks-sync-plan-${target}-${id}${attempt > 1 ? `-attempt-${attempt}` : ''}`;
}

export interface ReportFolder {
  dir: string;
  /** Written files, absolute paths. */
  files: string[];
}

/**
 * Writes the files into `path` (relative to the workspace, or absolute). The workspace is the PR
 * author's checkout: a symbolic link, or a file where a folder should be, on the way into the
 * folder is refused (never written through), and a link at a file's place is replaced, not
 * followed. A folder this creates gets a `.gitignore` of `*`, so a later step that commits the
 * workspace (create-pull-request) does not commit the report.
 */
export async function writeReportFolder(
  workspace: string,
  path: string,
  files: readonly { name: string; content: string }[],
  syncedRoots: readonly string[] = [],
): Promise<ReportFolder> {
  const dir = isAbsolute(path) ? path : join(workspace, path);
  // Inside a synced folder the reports would be synced by the next run (static/ takes every file).
  const root = syncedRoots.find((r) => dir === r || dir.startsWith(r + sep) || r.startsWith(dir + sep));
  if (root)
    throw new Error(
      `report-path: ${dir} overlaps the synced folder ${root}; the reports would be synced ` +
        'with it. Choose a report-path outside the synced folders.',
    );
  const created = isAbsolute(path) ? await makeAbsolute(dir) : await makeInside(workspace, path);
  if (created)
    await replaceFile(
      dir,
      '.gitignore',
      '# Written by fastblocks-sync: its reports are not part of the repository.\n*\n',
    );
  const written: string[] = [];
  for (const file of files) written.push(await replaceFile(dir, file.name, file.content));
  return { dir, files: written };
}

/**
 * Creates each missing folder of `path` under `root`; refuses links and non-folders on the way. True when the last
 * one was created.
 */
async function makeInside(root: string, path: string): Promise<boolean> {
  let current = root;
  let created = false;
  for (const part of path.split('/').filter((p) => p !== '' && p !== '.')) {
    current = join(current, part);
    const stat = await lstat(current).catch(() => null);
    if (stat === null) {
      await mkdir(current);
      created = true;
      continue;
    }
    created = false;
    if (stat.isSymbolicLink() || !stat.isDirectory()) {
      throw new Error(
        `report-path: ${current} is ` +
          `${stat.isSymbolicLink() ? 'a symbolic link' : 'not a folder'} in the checkout; the ` +
          'report is never written through it. Remove it or choose another report-path.',
      );
    }
  }
  return created;
}

async function makeAbsolute(dir: string): Promise<boolean> {
  const existed = await lstat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  await mkdir(dir, { recursive: true });
  return !existed;
}

/** Writes a temp file beside the target and renames it over: a link at the target is replaced, never followed. */
async function replaceFile(dir: string, name: string, content: string): Promise<string> {
  const target = join(dir, name);
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, content, { flag: 'wx', mode: 0o600 });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw new Error(`Cannot write ${target}: ${errorMessage(error)}`, { cause: error });
  }
  return target;
}
