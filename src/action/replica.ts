// The replica id of a workflow run names its local side in the base state: `owner/repo@branch`
// (the CLI's and the library's is the engine's defaultReplica, `host:/abs/path`).
// On a pull_request event it is the PR's *base* branch: the PR's dry-run plans against the state
// the merge will deploy onto (and, being a dry-run, never advances it).

import { isPullRequestEvent, type ActionContext } from './context.js';

export function workflowReplica(context: ActionContext): string {
  const repository = `${context.repo.owner}/${context.repo.repo}`;
  if (isPullRequestEvent(context) && context.pullRequest?.baseRef) {
    return `${repository}@${context.pullRequest.baseRef}`;
  }
  return `${repository}@${refName(context.ref)}`;
}

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`; anything else unchanged. */
export function refName(ref: string): string {
  const match = /^refs\/(?:heads|tags)\/(.+)$/.exec(ref);
  return match?.[1] ?? ref;
}
