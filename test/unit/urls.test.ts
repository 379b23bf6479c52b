// One rule for printing a URL the user gave: never a password, query or fragment.

import { describe, expect, it } from 'vitest';
import { printableUrl, withoutUserinfo } from '../../src/urls.js';

describe('printableUrl', () => {
  it('drops the user, the password, the query and the fragment by default', () => {
    expect(printableUrl('https://user:pw@app.example.com:8443/_reload?token=abc#x')).toBe(
      'https://app.example.com:8443/_reload',
    );
  });
  it('keeps the user name, or masks the password, when asked', () => {
    expect(printableUrl('redis://user:hunter2@cache:6380/2', { user: 'keep' })).toBe('redis://user@cache:6380/2');
    expect(printableUrl('redis://user:hunter2@cache:6380/2', { user: 'masked' })).toBe('redis://user:***@cache:6380/2');
    expect(printableUrl('rediss://:hunter2@cache', { user: 'masked' })).toBe('rediss://:***@cache');
    expect(printableUrl('redis://cache:6379', { user: 'masked' })).toBe('redis://cache:6379');
  });
  it('an unparsable URL is the fallback, never echoed', () => {
    expect(printableUrl('redis://u:hunter2@[bad')).toBe('<invalid URL>');
    expect(printableUrl('nope', { fallback: '<invalid cache URL>' })).toBe('<invalid cache URL>');
  });
});

describe('withoutUserinfo', () => {
  it.each([
    ['s3://KEY:SECRET@bucket/site', 's3://…@bucket/site'],
    ['KEY@bucket', '…@bucket'],
    ['s3://bucket/a@b', 's3://bucket/a@b'],
    ['ftp://host/site', 'ftp://host/site'],
    ['s3://a@b@bucket?x=@', 's3://…@bucket?x=@'],
  ])('%s → %s', (value, shown) => {
    expect(withoutUserinfo(value)).toBe(shown);
  });
});
