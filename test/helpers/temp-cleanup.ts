// Removes the folders a test file made with tempDir once the file is done: they hold whole trees and
// buckets (a killed-run test leaves a 256 MiB file), and a few hundred suite runs filled a disk.

import { rm } from 'node:fs/promises';
import { afterAll } from 'vitest';
import { tempDirs } from './trees.js';

afterAll(async () => {
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
});
