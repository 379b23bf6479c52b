// One sync run: list both sides, plan, then print (dry-run) or apply under the remote lock.
// Everything outside the engine (CLI, Action, targets) calls runSync and reads its report.

import type { ObjectAttributes, RemoteStore } from '../stores/store.js';
import type { InvalidFile, SyncReport, SyncStrategy } from './model.js';

export interface ValidationIssue {
  message: string;
  line?: number;
  column?: number;
}

export interface SyncOptions {
  /** The local directory (created on pull when missing). */
  localRoot: string;
  store: RemoteStore;
  /** Key prefix of the synced root inside the bucket: '' or ending in '/'. */
  rootPrefix: string;
  /**
   * Key prefix of the tool's own area (state, lock, backups), ending in '.fastblocks-sync/'.
   * Defaults to `<rootPrefix>.fastblocks-sync/`; targets share one area per bucket prefix.
   */
  areaPrefix?: string;
  strategy: SyncStrategy;
  /** Names the local side in the base state: CI `owner/repo@branch`, CLI `host:/abs/path`. */
  replica?: string;
  include?: readonly string[];
  exclude?: readonly string[];
  prune?: boolean;
  /** '50%' or a count; deletions above it (and above 10 files) are refused unless `force`. */
  maxDelete?: string | number;
  force?: boolean;
  /** Content-Type / Cache-Control for an uploaded object; its fingerprint is kept in the base. */
  attributesFor?: (path: string) => ObjectAttributes | undefined;
  /** Refuse bytes about to be written on either side (null = fine). Invalid files are skipped, not fatal. */
  validate?: (path: string, body: Buffer) => ValidationIssue | null;
  /** Seconds to wait for another run's lock before failing. */
  lockWait?: number;
  /** Injected for tests: clock, sleep and randomness of the retry backoff. */
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onProgress?: (done: number, total: number) => void;
  /** Abort the whole run (SIGINT/SIGTERM): applied ops are rolled back. */
  signal?: AbortSignal;
}

export type { InvalidFile, SyncReport };
