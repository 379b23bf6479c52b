// The XML S3 answers with: ListObjectsV2 pages (read by the thousand: 1,000 keys a page), error
// bodies, and the ETag or upload id of CopyObject and multipart answers.
//
// A small reader of the XML S3 writes, not a general XML parser: elements, attributes (skipped),
// text with the five named and the numeric character references, CDATA sections, comments,
// processing instructions. A DOCTYPE is refused (S3 never sends one, and it could declare entities
// we would not expand). A document that ends early (a connection cut mid-page) or does not nest is
// refused with MalformedXmlError, never read as a shorter page. Measured against fast-xml-parser
// on a 1,000-key page: see bench/README.md ("The S3 transport").

import type { BucketVersioning, ListedVersion, ObjectInfo } from './store.js';

/** The answer was not the XML it should be: cut short, not nested, or holding an invalid reference. */
export class MalformedXmlError extends Error {
  constructor(why: string) {
    super(`malformed XML in the answer: ${why}`);
    this.name = 'MalformedXmlError';
  }
}

export interface XmlElement {
  name: string;
  /** The element's own text (references decoded, CDATA as is), children's text excluded. */
  text: string;
  children: XmlElement[];
}

/** The document's root element. Throws MalformedXmlError for anything but one well-nested element. */
export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let at = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (at < xml.length) {
    const open = xml.indexOf('<', at);
    const textEnd = open < 0 ? xml.length : open;
    if (textEnd > at) addText(stack, root, xml.slice(at, textEnd), true);
    if (open < 0) break;
    at = readMarkup(xml, open, stack, (element) => {
      if (root !== undefined) throw new MalformedXmlError(`a second root element <${element.name}>`);
      root = element;
    });
  }
  const open = stack.at(-1);
  if (open) throw new MalformedXmlError(`the document ends inside <${open.name}> (cut short?)`);
  if (root === undefined) throw new MalformedXmlError('no root element');
  return root;
}

/** Reads the markup at `open` (a '<'); returns where the text after it starts. */
function readMarkup(xml: string, open: number, stack: XmlElement[], onRoot: (element: XmlElement) => void): number {
  const next = xml.charCodeAt(open + 1);
  if (next === 0x21 /* ! */ || next === 0x3f /* ? */) return readSpecial(xml, open, stack);
  const close = tagEnd(xml, open);
  if (next === 0x2f /* / */) {
    const element = stack.pop();
    const name = xml.slice(open + 2, close);
    if (element?.name !== name && element?.name !== name.trimEnd())
      throw new MalformedXmlError(`</${name.trim()}> closes ${element ? `<${element.name}>` : 'nothing'}`);
    return close + 1;
  }
  const selfClosing = xml.charCodeAt(close - 1) === 0x2f;
  const element: XmlElement = { name: tagName(xml, open + 1, selfClosing ? close - 1 : close), text: '', children: [] };
  const parent = stack[stack.length - 1];
  if (parent) parent.children.push(element);
  else onRoot(element);
  if (!selfClosing) stack.push(element);
  return close + 1;
}

/** CDATA (its text, as is), a comment or a processing instruction (skipped); a DOCTYPE is refused. */
function readSpecial(xml: string, open: number, stack: XmlElement[]): number {
  if (xml.startsWith('<![CDATA[', open)) {
    const end = expectIndex(xml, ']]>', open, 'a CDATA section');
    addText(stack, undefined, xml.slice(open + 9, end), false);
    return end + 3;
  }
  if (xml.startsWith('<!--', open)) return expectIndex(xml, '-->', open, 'a comment') + 3;
  if (xml.startsWith('<?', open)) return expectIndex(xml, '?>', open, 'a processing instruction') + 2;
  throw new MalformedXmlError('a DOCTYPE or declaration, which S3 never sends');
}

/** The '>' that ends the tag opened at `open`, skipping quoted attribute values. */
function tagEnd(xml: string, open: number): number {
  for (let i = open + 1; i < xml.length; i++) {
    const c = xml.charCodeAt(i);
    if (c === 0x3e /* > */) return i;
    if (c === 0x22 || c === 0x27) {
      const quote = xml.indexOf(c === 0x22 ? '"' : "'", i + 1);
      if (quote < 0) break;
      i = quote;
    }
  }
  throw new MalformedXmlError('the document ends inside a tag (cut short?)');
}

function tagName(xml: string, from: number, to: number): string {
  let end = from;
  for (let c = xml.charCodeAt(end); end < to && !isSpace(c) && !NOT_IN_NAMES.has(c); c = xml.charCodeAt(++end));
  // A name ends at whitespace (attributes follow) or at the tag's end; anything else is not XML.
  if (end === from || (end < to && !isSpace(xml.charCodeAt(end))))
    throw new MalformedXmlError(`an invalid element name "${xml.slice(from, Math.min(to, from + 40))}"`);
  return xml.slice(from, end);
}

/** < > & " ' = / : what no element name holds. */
const NOT_IN_NAMES = new Set([0x3c, 0x3e, 0x26, 0x22, 0x27, 0x3d, 0x2f]);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function expectIndex(xml: string, token: string, from: number, what: string): number {
  const index = xml.indexOf(token, from);
  if (index < 0) throw new MalformedXmlError(`the document ends inside ${what} (cut short?)`);
  return index;
}

function addText(stack: XmlElement[], root: XmlElement | undefined, raw: string, decode: boolean): void {
  const element = stack[stack.length - 1];
  if (element === undefined) {
    // Outside the root only whitespace may stand.
    if (/\S/.test(raw))
      throw new MalformedXmlError(root ? 'text after the root element' : 'text before the root element');
    return;
  }
  element.text += decode ? decodeReferences(raw) : raw;
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

/** The five named references and numeric ones (`&#233;`, `&#xE9;`); anything else is refused. */
export function decodeReferences(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&]*);?/g, (whole, entity: string) => {
    if (!whole.endsWith(';')) throw new MalformedXmlError(`a bare "&" in "${whole.slice(0, 20)}"`);
    const named = NAMED[entity];
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(entity);
    const [, hex, decimal] = numeric ?? [];
    const code = hex !== undefined ? parseInt(hex, 16) : decimal !== undefined ? parseInt(decimal, 10) : NaN;
    if (!isXmlChar(code)) throw new MalformedXmlError(`an invalid reference "&${entity.slice(0, 20)};"`);
    return String.fromCodePoint(code);
  });
}

/** XML 1.0's Char production: what a character reference may name. */
function isXmlChar(code: number): boolean {
  if (code === 0x9 || code === 0xa || code === 0xd) return true;
  return (
    (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** The text of the first child named `name`, or undefined. */
export function childText(element: XmlElement, name: string): string | undefined {
  for (const child of element.children) if (child.name === name) return child.text;
  return undefined;
}

/** The text of the root's child `name` in a document, or undefined when the body is not XML (an empty answer). */
export function xmlField(xml: string, name: string): string | undefined {
  if (xml.trim() === '') return undefined;
  return childText(parseXml(xml), name);
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

// ---------------------------------------------------------------------------------------------
// ListObjectsV2

export interface ListPage {
  objects: ObjectInfo[];
  isTruncated: boolean;
  nextContinuationToken?: string;
}

/**
 * A ListObjectsV2 answer. Keys are URL-decoded only when the answer says `EncodingType=url`:
 * AWS and moto honour the request for it, but some servers (s3rver; Ceph, DigitalOcean, Scaleway
 * and IBM COS in rclone's provider table) ignore it and send keys raw, where decoding would read
 * `a+b` as `a b` and fail on `100%`. Encoded, AWS writes a space as '+', moto as %20; a '+' is %2B.
 */
export function parseListPage(xml: string): ListPage {
  const root = parseXml(xml);
  if (root.name !== 'ListBucketResult') throw new MalformedXmlError(`a listing answered with <${root.name}>`);
  const encoded = childText(root, 'EncodingType')?.trim() === 'url';
  const objects: ObjectInfo[] = [];
  let isTruncated = false;
  let nextContinuationToken: string | undefined;
  for (const child of root.children) {
    if (child.name === 'Contents') objects.push(listedObject(child, encoded));
    else if (child.name === 'IsTruncated') isTruncated = child.text.trim() === 'true';
    else if (child.name === 'NextContinuationToken') nextContinuationToken = child.text;
  }
  return { objects, isTruncated, ...(nextContinuationToken ? { nextContinuationToken } : {}) };
}

/**
 * A listing page's continuation token, read without parsing its thousand keys, so the next page
 * can be asked for first; undefined when the page looks complete. Only a hint, which the caller
 * checks against parseListPage's reading of the same page: element names cannot occur inside
 * text, where '<' is escaped, but a server may spell the XML otherwise (CDATA, references,
 * attributes): then the look reads nothing. It never throws.
 */
export function peekListContinuation(xml: string): string | undefined {
  if (elementText(xml, 'IsTruncated')?.trim() !== 'true') return undefined;
  const token = elementText(xml, 'NextContinuationToken');
  // Plain text only (tokens are base64 or hex): anything spelled with markup is left to the parse.
  return token && !/[<&]/.test(token) ? token : undefined;
}

function elementText(xml: string, name: string): string | undefined {
  const open = xml.indexOf(`<${name}>`);
  if (open < 0) return undefined;
  const from = open + name.length + 2;
  const close = xml.indexOf(`</${name}>`, from);
  return close < 0 ? undefined : xml.slice(from, close);
}

function listedObject(contents: XmlElement, encoded: boolean): ObjectInfo {
  let key: string | undefined;
  let size = 0;
  let etag = '';
  let lastModified = 0;
  for (const field of contents.children) {
    if (field.name === 'Key') key = encoded ? decodeListedKey(field.text) : field.text;
    else if (field.name === 'Size') size = listedSize(field.text);
    else if (field.name === 'ETag') etag = field.text;
    else if (field.name === 'LastModified') lastModified = Date.parse(field.text.trim()) || 0;
  }
  if (key === undefined || key === '') throw new MalformedXmlError('a listed object without a key');
  return { key, size, etag: etag.replace(/^W\//, '').replace(/^"|"$/g, ''), lastModified };
}

// ---------------------------------------------------------------------------------------------
// Versioning: GetBucketVersioning and ListObjectVersions

/**
 * A GetBucketVersioning answer: `<Status>` Enabled or Suspended, none when versioning was never
 * enabled. A server that ignores `?versioning` and lists the bucket instead keeps no versions.
 */
export function parseVersioningStatus(xml: string): BucketVersioning {
  if (xml.trim() === '') return 'unversioned';
  const root = parseXml(xml);
  if (root.name === 'ListBucketResult') return 'unversioned';
  if (root.name !== 'VersioningConfiguration' && root.name !== 'GetBucketVersioningResponse')
    throw new MalformedXmlError(`a versioning answer with <${root.name}>`);
  const status = childText(root, 'Status')?.trim();
  return status === 'Enabled' ? 'enabled' : status === 'Suspended' ? 'suspended' : 'unversioned';
}

export interface VersionsPage {
  versions: ListedVersion[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/** A ListObjectVersions answer: versions and delete markers in the order listed (per key, newest first). */
export function parseVersionsPage(xml: string): VersionsPage {
  const root = parseXml(xml);
  if (root.name !== 'ListVersionsResult') throw new MalformedXmlError(`a version listing answered with <${root.name}>`);
  const encoded = childText(root, 'EncodingType')?.trim() === 'url';
  const page: VersionsPage = { versions: [], isTruncated: false };
  for (const child of root.children) {
    if (child.name === 'Version' || child.name === 'DeleteMarker')
      page.versions.push(listedVersion(child, encoded, child.name === 'DeleteMarker'));
    else if (child.name === 'IsTruncated') page.isTruncated = child.text.trim() === 'true';
    else if (child.name === 'NextKeyMarker') page.nextKeyMarker = encoded ? decodeListedKey(child.text) : child.text;
    else if (child.name === 'NextVersionIdMarker') page.nextVersionIdMarker = child.text;
  }
  return page;
}

function listedVersion(element: XmlElement, encoded: boolean, deleteMarker: boolean): ListedVersion {
  const { key, size, etag, lastModified } = deleteMarker
    ? { ...listedObject(element, encoded), size: 0, etag: '' }
    : listedObject(element, encoded);
  const versionId = childText(element, 'VersionId');
  if (versionId === undefined || versionId === '') throw new MalformedXmlError('a listed version without a VersionId');
  const isLatest = childText(element, 'IsLatest')?.trim() === 'true';
  return { key, versionId, deleteMarker, etag, size, isLatest, lastModified };
}

function decodeListedKey(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new MalformedXmlError(`a key said to be URL-encoded that is not: "${text.slice(0, 80)}"`);
  }
}

function listedSize(text: string): number {
  const size = Number(text.trim());
  if (!Number.isSafeInteger(size) || size < 0 || text.trim() === '')
    throw new MalformedXmlError(`an object size "${text.slice(0, 40)}"`);
  return size;
}

// ---------------------------------------------------------------------------------------------
// Errors and single fields

export interface ErrorBody {
  code?: string;
  message?: string;
  /** AuthorizationHeaderMalformed and PermanentRedirect name the bucket's region. */
  region?: string;
}

/** The fields of an `<Error>` body; an empty or unreadable body gives none (a HEAD's error has no body). */
export function parseErrorBody(xml: string): ErrorBody {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch {
    return {};
  }
  if (root.name !== 'Error') return {};
  const code = childText(root, 'Code');
  const message = childText(root, 'Message');
  const region = childText(root, 'Region');
  return { ...(code ? { code } : {}), ...(message ? { message } : {}), ...(region ? { region } : {}) };
}

/** Whether a 200 answer's body is in fact an error: CopyObject and CompleteMultipartUpload may fail that way. */
export function isErrorIn200(xml: string): boolean {
  if (xml.trim() === '') return true;
  try {
    return parseXml(xml).name === 'Error';
  } catch {
    // A body cut short is as good as no answer: the operation's outcome is unknown.
    return true;
  }
}
