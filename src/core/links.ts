// Symbolic links above a synced folder. The walk (scan.ts) and the local writes (local.ts) never
// follow a link *inside* a synced folder, but they start from the folder itself: a folder that is a
// link, or that sits under one, would be read and written wherever the link points. In a checkout
// every link is the pull request author's (templates/ -> a runner folder holding credentials), so
// the roots are checked once, where a run resolves them, from the app root (or the workspace) down.

import fs from 'node:fs/promises';
import path from 'node:path';

export interface LinkOnPath {
  /** The link, relative to the base it was found under (POSIX separators), or absolute outside it. */
  path: string;
  /** Where it points, as the link says. */
  to: string;
}

/**
 * The first symbolic link from `base` (excluded) down to `target` (included), or null. A part that
 * does not exist ends the walk: there is nothing to follow. A target outside `base` (an absolute path
 * given by the user) is checked itself only: the folders above it are the user's choice.
 */
export async function linkOnPath(base: string, target: string): Promise<LinkOnPath | null> {
  const relative = path.relative(base, target);
  const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  const parts = inside ? relative.split(path.sep) : [];
  const candidates = inside
    ? parts.map((_, i) => path.join(base, ...parts.slice(0, i + 1)))
    : relative === ''
      ? []
      : [target];
  for (const candidate of candidates) {
    const stat = await fs.lstat(candidate).catch((error: unknown) => {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    });
    if (stat === null) return null;
    if (stat.isSymbolicLink())
      return {
        path: inside ? path.relative(base, candidate).split(path.sep).join('/') : candidate,
        to: await fs.readlink(candidate),
      };
  }
  return null;
}

/** The refusal of a folder that is, or sits under, a link: names the folder, the link and the fix. */
export function linkedFolderMessage(folder: string, link: LinkOnPath, label = 'The local folder'): string {
  return (
    `${label} ${folder} ${link.path === folder ? 'is a symbolic link' : `sits under the symbolic link ${link.path}`}` +
    ` (to ${link.to}): refused, nothing read or written. ` +
    ('The tool never follows a link at or above a synced folder (in a checkout, links are ' +
      "anyone's input and could take reads and writes outside it). ") +
    'Make it a real folder, or name the real folder in the options.'
  );
}
