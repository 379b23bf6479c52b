// The replica id of a workflow run names its local side in the base state: `owner/repo@branch`
// (the CLI's and the library's is the engine's defaultReplica, `host:/abs/path`).
// On a pull_request event it is the PR's *base* branch: the PR's dry-run plans against the state
// the merge will deploy onto (and, being a dry-run, never advances it).

import { InputError } from '../errors.js';
import { isPullRequestEvent, type ActionContext } from './context.js';
import { INPUTS } from './inputs.js';

/**
 * `owner/repo@branch` from the runner's environment. Without GITHUB_REPOSITORY or GITHUB_REF (a
 * runner that does not set them, a local run) there is no such name: the replica must be given,
 * never guessed (`/@` would be one base state shared by every repository and branch).
 */
export function workflowReplica(context: ActionContext): string {
  const { owner, repo } = context.repo;
  if (!owner || !repo) throw missing('GITHUB_REPOSITORY is not set');
  const branch =
    isPullRequestEvent(context) && context.pullRequest?.baseRef ? context.pullRequest.baseRef : refName(context.ref);
  if (!branch)
    throw missing(
      isPullRequestEvent(context)
        ? 'the event has no pull_request.base.ref and GITHUB_REF is not set'
        : 'GITHUB_REF is not set',
    );
  return `${owner}/${repo}@${branch}`;
}

function missing(why: string): InputError {
  return new InputError(
    INPUTS.replica,
    `Input '${INPUTS.replica}' is empty and ${why}, so the default owner/repo@branch cannot be made. ` +
      `Set '${INPUTS.replica}' (e.g. 'my-org/my-app@main'): it names this side in the bucket's base state.`,
  );
}

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`; anything else unchanged. */
export function refName(ref: string): string {
  const match = /^refs\/(?:heads|tags)\/(.+)$/.exec(ref);
  return match?.[1] ?? ref;
}
