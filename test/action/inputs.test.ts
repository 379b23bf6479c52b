import { describe, expect, it } from 'vitest';
import { readInputs, parseList, INPUTS, INPUT_DEFAULTS, type InputName } from '../../src/action/inputs.js';
import { InputError } from '../../src/errors.js';

function inputs(values: Partial<Record<InputName, string>>) {
  return readInputs((name) => values[name] ?? '');
}

function failure(values: Partial<Record<InputName, string>>): InputError {
  try {
    inputs(values);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('readInputs', () => {
  it('applies the Action defaults to a minimal input set', () => {
    const s = inputs({ bucket: 'my-app-prod' });
    expect(s).toMatchObject({
      target: 'all',
      bucket: 'my-app-prod',
      prefix: '',
      storageBucket: 's3://my-app-prod',
      direction: 'push',
      conflictStrategy: 'newest-wins',
      dryRun: { value: false, explicit: false },
      backupOnConflict: true,
      prune: false,
      maxDelete: '50%',
      maxConcurrent: 16,
      timeout: 30,
      retryAttempts: 2,
      retryDelay: 0.5,
      comment: 'auto',
      requireApprovedPlan: false,
      pullCache: false,
      secrets: [],
    });
    expect(s.templatePaths).toBeUndefined();
    expect(s.pathStyle).toBeUndefined();
  });

  it('parses every typed input', () => {
    const s = inputs({
      target: 'templates',
      bucket: 'b-1',
      prefix: '/sites/prod/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      'path-style': 'true',
      direction: 'PULL',
      'conflict-strategy': 'REMOTE_WINS',
      'dry-run': 'False',
      'backup-on-conflict': 'false',
      prune: 'TRUE',
      'max-delete': '25',
      'max-concurrent': '4',
      timeout: '2.5',
      'retry-attempts': '0',
      'retry-delay': '0',
      'template-paths': 'templates\nthemes/base/',
      patterns: '*.html, *.{j2,jinja2}',
      'settings-path': 'config',
      'adapter-names': 'app,storage',
      'reload-config': 'true',
      'reload-url': 'https://app.example/reload',
      'reload-secret': 's3cr3t',
      'cache-operation': 'warm',
      'cache-namespaces': 'templates bccache',
      'cache-keys': 'a:b\nc:d',
      'warm-templates': 'false',
      'cache-url': 'rediss://default:p%40ss@redis.example:6380/0',
      'app-name': 'myapp',
      replica: 'ci@main',
      comment: 'never',
      'github-token': 'ghs_x',
      'require-approved-plan': 'true',
      'pull-cache': 'true',
    });
    expect(s).toMatchObject({
      target: 'templates',
      prefix: 'sites/prod',
      storageBucket: 's3://b-1/sites/prod',
      pathStyle: true,
      direction: 'pull',
      conflictStrategy: 'remote-wins',
      dryRun: { value: false, explicit: true },
      backupOnConflict: false,
      prune: true,
      maxDelete: 25,
      maxConcurrent: 4,
      timeout: 2.5,
      retryAttempts: 0,
      retryDelay: 0,
      templatePaths: ['templates', 'themes/base'],
      patterns: ['*.html', '*.{j2,jinja2}'],
      settingsPath: 'config',
      adapterNames: ['app', 'storage'],
      reloadConfig: true,
      cacheOperation: 'warm',
      cacheNamespaces: ['templates', 'bccache'],
      cacheKeys: ['a:b', 'c:d'],
      warmTemplates: false,
      appName: 'myapp',
      replica: 'ci@main',
      comment: 'never',
      githubToken: 'ghs_x',
      requireApprovedPlan: true,
      pullCache: true,
    });
    // The reload secret and the cache password, raw and decoded, are collected for masking.
    expect(s.secrets.sort()).toEqual(['p%40ss', 'p@ss', 's3cr3t'].sort());
  });

  it('accepts s3:// and file:// URLs as the bucket', () => {
    expect(inputs({ bucket: 's3://b-2/a/b', prefix: 'c' })).toMatchObject({
      bucket: 'b-2',
      prefix: 'a/b/c',
      storageBucket: 's3://b-2/a/b/c',
    });
    expect(inputs({ bucket: 'file:///srv/bucket' })).toMatchObject({ storageBucket: 'file:///srv/bucket' });
  });

  it.each([
    [
      { direction: 'sideways' },
      "Input 'direction' has an invalid value 'sideways'. Accepted: pull, push, bidirectional",
    ],
    [
      { 'conflict-strategy': 'coin-flip' },
      "Input 'conflict-strategy' has an invalid value 'coin-flip'. Accepted: remote-wins, " +
        'local-wins, newest-wins, manual, backup-both',
    ],
    [
      { target: 'everything' },
      "Input 'target' has an invalid value 'everything'. Accepted: templates, settings, static, cache, all",
    ],
    [{ 'dry-run': 'yes' }, "Input 'dry-run' has an invalid value 'yes'. Accepted: true, false"],
    [{ comment: 'sometimes' }, "Input 'comment' has an invalid value 'sometimes'. Accepted: auto, always, never"],
    [{ 'max-concurrent': '0' }, "Input 'max-concurrent' has an invalid value '0'. Accepted: an integer from 1 to 256"],
    [
      { 'max-concurrent': '2.5' },
      "Input 'max-concurrent' has an invalid value '2.5'. Accepted: an integer from 1 to 256",
    ],
    [{ timeout: '-1' }, "Input 'timeout' has an invalid value '-1'. Accepted: a number from 0.1 to 3600"],
    [{ 'max-delete': 'lots' }, "Input 'max-delete' has an invalid value 'lots'."],
    [
      { 'cache-namespaces': 'templates,sessions' },
      "Input 'cache-namespaces' has an invalid value 'sessions'. Accepted: templates, " +
        'bccache, responses, gather, static',
    ],
    [{ 'cache-operation': 'nuke' }, "Input 'cache-operation' has an invalid value 'nuke'. Accepted: refresh, none"],
    [
      { target: 'cache', 'cache-operation': 'nuke' },
      "Input 'cache-operation' has an invalid value 'nuke'. Accepted: refresh, invalidate, warm, clear",
    ],
    [{ 'template-paths': '../elsewhere' }, "Input 'template-paths' has an invalid value '../elsewhere'."],
    [{ bucket: 'My_Bucket!' }, "Input 'bucket' has an invalid value 'My_Bucket!'."],
    [{ bucket: 'ftp://x' }, "Input 'bucket' has an invalid value 'ftp://x'."],
    [{ prefix: 'a/../b' }, "Input 'prefix' has an invalid value 'a/../b'."],
    [
      { endpoint: 'localhost:9000' },
      "Input 'endpoint' has an invalid value 'localhost:9000'. Accepted: an http:// or https:// URL",
    ],
  ] as [Partial<Record<InputName, string>>, string][])(
    'rejects %o naming the input, the value and what is accepted',
    (values, message) => {
      const error = failure({ bucket: 'my-bucket', ...values });
      expect(error.message).toContain(message);
      expect(error.reason).toBe('validation');
    },
  );

  it('requires a bucket except for cache-only runs', () => {
    expect(failure({}).message).toBe(
      "Input 'bucket' is required for target 'all'. Set it to the bucket name (e.g. 'my-app-prod').",
    );
    expect(inputs({ target: 'cache' }).storageBucket).toBeUndefined();
  });

  it('never echoes credentials from URLs', () => {
    const cache = failure({ bucket: 'b-1', 'cache-url': 'http://user:hunter2@redis:6379' });
    expect(cache.message).not.toContain('hunter2');
    expect(cache.message).toContain("'cache-url'");
    const broken = failure({ bucket: 'b-1', 'cache-url': 'redis://u:hunter2@[bad' });
    expect(broken.message).not.toContain('hunter2');
    const endpoint = failure({ bucket: 'b-1', endpoint: 'https://key:hunter2@s3.example' });
    expect(endpoint.message).not.toContain('hunter2');
  });

  it('asks for the reload URL when reload-config is on', () => {
    expect(failure({ bucket: 'b-1', 'reload-config': 'true' }).message).toContain("'reload-url' is empty");
  });

  it('refuses prune with bidirectional', () => {
    expect(failure({ bucket: 'b-1', prune: 'true', direction: 'bidirectional' }).message).toContain(
      "use direction 'push' or 'pull'",
    );
  });

  it('takes the comment author as a GitHub login (default the Actions bot) and lock-wait in seconds', () => {
    expect(inputs({ bucket: 'my-app-prod' })).toMatchObject({ commentAuthor: 'github-actions[bot]', lockWait: 60 });
    expect(inputs({ bucket: 'my-app-prod', 'comment-author': 'sync-app[bot]', 'lock-wait': '5' })).toMatchObject({
      commentAuthor: 'sync-app[bot]',
      lockWait: 5,
    });
    expect(inputs({ bucket: 'my-app-prod', 'comment-author': 'deploy-bot' }).commentAuthor).toBe('deploy-bot');
    for (const bad of ['github actions', 'a[bot]x', '-lead', 'x'.repeat(40), '<script>']) {
      expect(failure({ bucket: 'my-app-prod', 'comment-author': bad }).message).toMatch(
        /^Input 'comment-author' has an invalid value .*Accepted: a GitHub login: 'github-actions\[bot\]'/,
      );
    }
    expect(failure({ bucket: 'my-app-prod', 'lock-wait': 'forever' }).message).toBe(
      "Input 'lock-wait' has an invalid value 'forever'. Accepted: a number from 0 to 3600",
    );
  });

  it('takes lock-ttl in seconds (default 600), from 2 to 86400', () => {
    expect(inputs({ bucket: 'my-app-prod' }).lockTtl).toBe(600);
    expect(inputs({ bucket: 'my-app-prod', 'lock-ttl': '30' }).lockTtl).toBe(30);
    for (const bad of ['1', '0', '-5', '86401', 'ten', '1e9']) {
      expect(failure({ bucket: 'my-app-prod', 'lock-ttl': bad }).message).toBe(
        `Input 'lock-ttl' has an invalid value '${bad}'. Accepted: a number from 2 to 86400`,
      );
    }
  });

  it('falls back to GITHUB_TOKEN for github-token', () => {
    expect(readInputs((n) => (n === 'bucket' ? 'b-1' : ''), { GITHUB_TOKEN: 'ghs_env' }).githubToken).toBe('ghs_env');
  });

  it('has a default for every input that is not optional by nature', () => {
    for (const name of Object.keys(INPUT_DEFAULTS)) expect(Object.values(INPUTS)).toContain(name);
  });
});

describe('parseList', () => {
  it('splits on new lines, commas and spaces but keeps brace groups', () => {
    expect(parseList('x', ' a, b\n\n c d \n*.{yml,yaml}')).toEqual(['a', 'b', 'c', 'd', '*.{yml,yaml}']);
    expect(parseList('x', '')).toBeUndefined();
  });
});
