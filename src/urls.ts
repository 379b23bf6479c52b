// URLs made printable: one rule for every message, report, log line and plan hash that names a
// URL the user gave (a remote, an endpoint, a cache, a webhook). A password is never printed, nor
// a query or fragment (where tokens travel).

/**
 * `scheme://user:pass@host/path?q#f` → `scheme://host/path`. `user: 'keep'` keeps the user name,
 * `'masked'` keeps it with the password shown as `***` (when there is one). Unparsable → `fallback`.
 */
export function printableUrl(
  url: string,
  { user = 'drop', fallback = '<invalid URL>' }: { user?: 'drop' | 'keep' | 'masked'; fallback?: string } = {},
): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fallback;
  }
  const password = user === 'masked' && parsed.password ? ':***' : '';
  const userinfo = user !== 'drop' && (parsed.username || password) ? `${parsed.username}${password}@` : '';
  return `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}`;
}

/**
 * A value the user typed, echoed back with anything before an `@` in its authority replaced by `…`:
 * `s3://KEY:SECRET@bucket/p` → `s3://…@bucket/p`, `KEY@bucket` → `…@bucket`. For values that may
 * not even parse as URLs.
 */
export function withoutUserinfo(text: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
  const rest = text.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  return at < 0 ? text : `${scheme}…@${rest.slice(at + 1)}`;
}
