// YAML validation, literal-secret warnings and the webhook signature, without servers.

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isPlaceholder } from '../../src/targets/config.js';
import { adapterOf, findLiteralSecrets, signBody, validateYaml } from '../../src/targets/settings.js';
import { printableUrl } from '../../src/urls.js';

describe('validateYaml', () => {
  it('accepts every document of a valid multi-document file', () => {
    expect(validateYaml('a: 1\n---\nb: [1, 2]\n---\nc: {d: e}\n')).toBeNull();
    expect(validateYaml('')).toBeNull();
    expect(validateYaml('# only a comment\n')).toBeNull();
  });

  it('refuses a duplicate key with its line and column', () => {
    expect(validateYaml('name: shop\ncache:\n  host: a\n  host: b\n')).toEqual({
      message: 'Map keys must be unique',
      line: 4,
      column: 3,
    });
  });

  it('refuses a syntax error in a later document, with the position in the file', () => {
    const issue = validateYaml('a: 1\n---\nb: 2\n---\nc: [1, 2\nd: 3\n');
    expect(issue?.line).toBe(6);
    expect(issue?.column).toBe(1);
    expect(issue?.message).not.toMatch(/at line/);
  });

  it('refuses tabs as indentation and invalid UTF-8', () => {
    expect(validateYaml('a:\n\tb: 1\n')).toMatchObject({ line: 2, column: 1 });
    expect(validateYaml(Buffer.from([0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a]))).toEqual({ message: 'not valid UTF-8' });
  });

  it('refuses an alias bomb ("billion laughs") instead of expanding it', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n');
    expect(validateYaml(bomb)?.message).toMatch(/alias/i);
    // A few ordinary aliases are fine.
    expect(validateYaml('base: &base {a: 1}\nprod:\n  <<: *base\n  b: 2\n')).toBeNull();
  });
});

describe('findLiteralSecrets', () => {
  it('warns about literal secret values with their key path and position, never the value', () => {
    const warnings = findLiteralSecrets(
      'sql.yml',
      'host: db\nauth:\n  password: hunter2-prod\n  api_key: "AKIA1234567890"\n',
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toEqual({
      path: 'sql.yml',
      message: expect.stringContaining('line 3, column 13: "auth.password"'),
    });
    expect(warnings[1]?.message).toContain('"auth.api_key"');
    expect(JSON.stringify(warnings)).not.toContain('hunter2');
    expect(JSON.stringify(warnings)).not.toContain('AKIA');
  });

  it('does not warn about placeholders, tags, non-strings or names that are not secrets', () => {
    const text = [
      'password: ${DB_PASSWORD}',
      'secret_key: "${{ secrets.KEY }}"',
      'token: ""',
      'api_key: null',
      'db_password: changeme',
      'auth_token: <your-token>',
      'private_key: !secret app_key',
      'token_ttl: 3600',
      'token_url: https://auth.example.com/token',
      'keys_enabled: true',
      'password_min_length: 12',
    ].join('\n');
    expect(findLiteralSecrets('app.yml', text)).toEqual([]);
  });

  it('placeholders are documented forms only', () => {
    for (const p of [
      '',
      null,
      '${X}',
      '$X',
      '${{ a.b }}',
      '{{ x }}',
      '<token>',
      '***',
      'xxxx',
      'changeme',
      'CHANGE_ME',
      'todo',
    ])
      expect(isPlaceholder(p)).toBe(true);
    for (const v of ['hunter2', 's3cr3t!', 'prod-db.internal', '${X}suffix']) expect(isPlaceholder(v)).toBe(false);
  });
});

describe('reload webhook helpers', () => {
  it('signs the raw body with HMAC-SHA256 of the secret', () => {
    const body = '{"app":"shop","adapters":["app"],"files":["app.yml"]}';
    expect(signBody('k', body)).toBe(`sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`);
  });

  it('prints webhook URLs without credentials or query', () => {
    expect(printableUrl('https://user:pw@app.example.com/_reload?token=abc')).toBe('https://app.example.com/_reload');
  });

  it('names adapters by file stem', () => {
    expect(adapterOf('app.yml')).toBe('app');
    expect(adapterOf('adapters/cache.yaml')).toBe('cache');
  });
});
