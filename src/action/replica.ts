// The replica id names the local side of a sync in the base state: `owner/repo@branch`.
// On a pull_request event it is the PR's *base* branch: the PR's dry-run plans against the state
// the merge will deploy onto (and, being a dry-run, never advances it).

import { isPullRequestEvent, type ActionContext } from './context.js';

export function defaultReplica(context: ActionContext): string {
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
