import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers (moto_server, redis-server) are started once for the whole run.
    globalSetup: ['test/helpers/global-setup.ts', 'test/helpers/redis-setup.ts'],
    // Each test file's temporary folders are removed after it.
    setupFiles: ['test/helpers/temp-cleanup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The second reporter prints the `N passed, M failed` line CI records.
    reporters: ['default', './test/helpers/count-reporter.ts'],
  },
});
