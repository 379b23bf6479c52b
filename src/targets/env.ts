// The environment variables the FastBlocks areas read their remote, app name, cache and reload
// webhook from (config.ts resolves them; the CLI's help names them).

export const ENV = {
  remote: 'FASTBLOCKS_SYNC_REMOTE',
  appName: 'FASTBLOCKS_SYNC_APP_NAME',
  cacheUrl: 'FASTBLOCKS_SYNC_CACHE_URL',
  reloadUrl: 'FASTBLOCKS_SYNC_RELOAD_URL',
  reloadSecret: 'FASTBLOCKS_SYNC_RELOAD_SECRET',
} as const;
