// Types of release.mjs for the tests (scripts/ are plain JavaScript run by node).

export interface ReleaseTag {
  tag: string;
  version: string;
  major: number;
  minor: number;
  patch: number;
  prerelease: string | null;
}

export class ReleaseError extends Error {}
export function parseTag(tag: string): ReleaseTag;
export function compareVersions(a: ReleaseTag, b: ReleaseTag): number;
export function shouldMoveMajor(release: ReleaseTag, existingTags: readonly string[]): boolean;
export function releaseNotes(changelog: string, version: string): string;
export function changelogForRelease(changelog: string, version: string, date: string, repositoryUrl: string): string;
export function githubRepository(pkg: { repository?: string | { url?: string } }): string | null;
