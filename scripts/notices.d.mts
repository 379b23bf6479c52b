// Types of notices.mjs for the tests (scripts/ are plain JavaScript run by node).

export interface WebpackStats {
  chunks?: { id: number | string; files?: string[] }[];
  modules?: unknown[];
}

export interface PackageUse {
  files?: Iterable<string>;
  outputs?: Iterable<string>;
}

export interface LicenseText {
  name: string;
  text: string;
}

export interface PackageNotice {
  name: string;
  version: string;
  declared: string | undefined;
  repository: string | undefined;
  author: string | undefined;
  outputs: string[];
  copyright: string[];
  licenseFiles: LicenseText[];
  noticeFiles: LicenseText[];
  standardTexts: { id: string; name: string; text: string }[];
}

export function packageDirOf(file: string): string | undefined;
export function bundledPackages(
  stats: WebpackStats,
  ownRoot: string,
): Map<string, { files: Set<string>; outputs: Set<string> }>;
export function copyrightLines(text: string, options?: { comments?: boolean }): string[];
export function containsLicense(files: readonly LicenseText[], standardText: string): boolean;
export function describePackage(
  dir: string,
  use?: PackageUse,
  spdx?: Record<string, { name: string; licenseText: string }>,
): PackageNotice;
export function renderNotices(packages: readonly PackageNotice[]): string;
export function noticesFromStats(stats: WebpackStats, ownRoot: string): string;
