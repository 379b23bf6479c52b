// The S3 XML reader: ListObjectsV2 pages as AWS, moto, s3rver and hand-written servers send them,
// error bodies, and a fuzz test: pages generated with every way XML may spell the same text
// (references, CDATA, whitespace between elements, attributes, comments), keys encoded or not,
// must read back as the objects they were made from; and pages cut short or garbled must be
// refused, never read as a shorter page.

import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, test } from 'vitest';
import {
  decodeReferences,
  isErrorIn200,
  MalformedXmlError,
  parseErrorBody,
  parseListPage,
  parseVersioningStatus,
  parseVersionsPage,
  parseXml,
  peekListContinuation,
  xmlField,
} from '../../src/stores/s3-xml.js';

const AWS_PAGE = [
  '<?xml version="1.0" encoding="UTF-8"?>\n',
  '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>site</Name><Prefix>t%2F</Prefix>',
  '<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>',
  '<Contents><Key>t/a+b%2Bc%25.txt</Key><LastModified>2025-01-02T03:04:05.000Z</LastModified>',
  '<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>',
  '<Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>',
  '<Contents><Key>t/%C3%A9%20%E2%82%AC.md</Key><LastModified>2025-01-02T03:04:06.000Z</LastModified>',
  '<ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag><Size>10485760</Size>',
  '<StorageClass>STANDARD</StorageClass></Contents>',
  '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>',
].join('');

describe('parseListPage', () => {
  test(
    'an AWS page: keys decoded (AWS writes a space as +, a + as %2B), quotes stripped, ' + 'sizes, times, the token',
    () => {
      expect(parseListPage(AWS_PAGE)).toEqual({
        objects: [
          {
            key: 't/a b+c%.txt',
            size: 1,
            etag: '0cc175b9c0f1b6a831c399e269772661',
            lastModified: Date.parse('2025-01-02T03:04:05Z'),
          },
          {
            key: 't/é €.md',
            size: 10485760,
            etag: 'd41d8cd98f00b204e9800998ecf8427e-2',
            lastModified: Date.parse('2025-01-02T03:04:06Z'),
          },
        ],
        isTruncated: true,
        nextContinuationToken: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
      });
    },
  );

  test('without <EncodingType>url</EncodingType> keys are taken raw (s3rver, Ceph…): + % and & survive', () => {
    const page =
      '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b ' +
      '100%&amp;c</Key><Size>0</Size><ETag>"x"</ETag></Contents></ListBucketResult>';
    expect(parseListPage(page).objects.map((o) => o.key)).toEqual(['a+b 100%&c']);
  });

  test('pretty-printed XML, CDATA, numeric references and attributes read the same', () => {
    const page = `<?xml version="1.0"?>
      <!-- a comment -->
      <ListBucketResult xmlns="x" >
        <IsTruncated> false </IsTruncated>
        <Contents>
          <Key><![CDATA[a&b<c>]]>&#233;&#x1F600;</Key>
          <Size>
            12
          </Size>
          <ETag>&quot;abc&quot;</ETag>
          <Owner><ID>me</ID><DisplayName>Key</DisplayName></Owner>
        </Contents>
        <EncodingType>url</EncodingType>
      </ListBucketResult>
    `;
    expect(parseListPage(page)).toEqual({
      objects: [{ key: 'a&b<c>é😀', size: 12, etag: 'abc', lastModified: 0 }],
      isTruncated: false,
    });
  });

  test('a key that looks like markup, or like the EncodingType element, is only a key', () => {
    // CDATA can carry `<EncodingType>url</EncodingType>` literally: it must not switch decoding on.
    const page =
      '<ListBucketResult><Contents><Key><![CDATA[<EncodingType>url</EncodingType>%41]]></Key>' +
      '<Size>1</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>';
    expect(parseListPage(page).objects[0]?.key).toBe('<EncodingType>url</EncodingType>%41');
    const escaped =
      '<ListBucketResult><Contents><Key>&lt;/Key&gt;&lt;Key&gt;evil</Key><Size>1</Size></Contents></ListBucketResult>';
    expect(parseListPage(escaped).objects.map((o) => o.key)).toEqual(['</Key><Key>evil']);
  });

  test('an empty page', () => {
    expect(
      parseListPage('<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>'),
    ).toEqual({ objects: [], isTruncated: false });
    expect(parseListPage('<ListBucketResult/>')).toEqual({ objects: [], isTruncated: false });
  });

  test.each([
    ['cut inside an element', AWS_PAGE.slice(0, AWS_PAGE.indexOf('</Contents>') + 5)],
    ['cut after a whole Contents', AWS_PAGE.slice(0, AWS_PAGE.indexOf('</Contents>') + 11)],
    ['cut inside a tag', AWS_PAGE.slice(0, AWS_PAGE.indexOf('<Size>') + 3)],
    ['cut inside CDATA', '<ListBucketResult><Contents><Key><![CDATA[abc'],
    ['not nested', '<ListBucketResult><Contents><Key>a</Size></Contents></ListBucketResult>'],
    [
      'an unknown entity',
      '<ListBucketResult><Contents><Key>a&nbsp;b</Key><Size>1</Size></Contents></ListBucketResult>',
    ],
    ['a bare ampersand', '<ListBucketResult><Contents><Key>a & b</Key><Size>1</Size></Contents></ListBucketResult>'],
    [
      'a reference to no character',
      '<ListBucketResult><Contents><Key>a&#0;b&#x110000;</Key><Size>1</Size></Contents></ListBucketResult>',
    ],
    ['a DOCTYPE', '<!DOCTYPE x [<!ENTITY e "boom">]><ListBucketResult></ListBucketResult>'],
    [
      'a key said to be encoded that is not',
      '<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>100%</Key><Size>1</Size></Contents>' +
        '</ListBucketResult>',
    ],
    ['an object without a key', '<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>'],
    [
      'a size that is not a number',
      '<ListBucketResult><Contents><Key>a</Key><Size>12abc</Size></Contents></ListBucketResult>',
    ],
    ['a negative size', '<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>'],
    ['another document', '<Error><Code>InternalError</Code></Error>'],
    ['two roots', '<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>'],
    ['text outside the root', '<ListBucketResult></ListBucketResult>trailing'],
    ['nothing', ''],
  ])('refuses a page %s', (_, xml) => {
    expect(() => parseListPage(xml)).toThrow(MalformedXmlError);
  });
});

describe('versioning answers', () => {
  test('GetBucketVersioning: Enabled, Suspended, never enabled (no Status, or an empty answer)', () => {
    const config = (inner: string) =>
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</VersioningConfiguration>`;
    expect(parseVersioningStatus(config('<Status>Enabled</Status>'))).toBe('enabled');
    expect(parseVersioningStatus(config('<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>'))).toBe(
      'suspended',
    );
    expect(parseVersioningStatus(config(''))).toBe('unversioned');
    expect(parseVersioningStatus('')).toBe('unversioned');
    // moto's root element.
    expect(
      parseVersioningStatus('<GetBucketVersioningResponse><Status>Enabled</Status></GetBucketVersioningResponse>'),
    ).toBe('enabled');
    // A server that ignored ?versioning and listed the bucket is not one that keeps versions.
    expect(parseVersioningStatus('<ListBucketResult><Name>b</Name></ListBucketResult>')).toBe('unversioned');
    expect(() => parseVersioningStatus('<Error><Code>x</Code></Error>')).toThrow(MalformedXmlError);
    expect(() => parseVersioningStatus('<VersioningConfiguration><Status>Enab')).toThrow(MalformedXmlError);
  });

  test('ListObjectVersions as AWS sends it: versions and delete markers interleaved, keys URL-encoded, markers', () => {
    const page = parseVersionsPage(
      [
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        '<Name>b</Name><Prefix>a%2Bb</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>',
        '<NextKeyMarker>a%2Bb</NextKeyMarker><NextVersionIdMarker>v1.x</NextVersionIdMarker>',
        '<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>',
        '<DeleteMarker><Key>a%2Bb</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>',
        '<LastModified>2025-01-02T03:04:07.000Z</LastModified></DeleteMarker>',
        '<Version><Key>a%2Bb</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>',
        '<LastModified>2025-01-02T03:04:06.000Z</LastModified>',
        '<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag>',
        '<Size>1</Size><StorageClass>STANDARD</StorageClass></Version>',
        '<Version><Key>a%2Bb</Key><VersionId>null</VersionId><IsLatest>false</IsLatest>',
        '<LastModified>2025-01-02T03:04:05.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag>',
        '<Size>10485760</Size></Version></ListVersionsResult>',
      ].join(''),
    );
    expect(page).toEqual({
      isTruncated: true,
      nextKeyMarker: 'a+b',
      nextVersionIdMarker: 'v1.x',
      versions: [
        {
          key: 'a+b',
          versionId: 'v3',
          deleteMarker: true,
          etag: '',
          size: 0,
          isLatest: true,
          lastModified: 1735787047000,
        },
        {
          key: 'a+b',
          versionId: 'v2',
          deleteMarker: false,
          etag: '0cc175b9c0f1b6a831c399e269772661',
          size: 1,
          isLatest: false,
          lastModified: 1735787046000,
        },
        {
          key: 'a+b',
          versionId: 'null',
          deleteMarker: false,
          etag: 'd41d8cd98f00b204e9800998ecf8427e-2',
          size: 10485760,
          isLatest: false,
          lastModified: 1735787045000,
        },
      ],
    });
  });

  test('a version without a VersionId, another root, or a page cut short is refused', () => {
    const version = (inner: string) =>
      `<ListVersionsResult><Version><Key>k</Key>${inner}<ETag>"e"</ETag><Size>1</Size></Version></ListVersionsResult>`;
    expect(() => parseVersionsPage(version(''))).toThrow(/without a VersionId/);
    expect(() => parseVersionsPage(version('<VersionId></VersionId>'))).toThrow(MalformedXmlError);
    expect(() => parseVersionsPage('<ListBucketResult></ListBucketResult>')).toThrow(MalformedXmlError);
    expect(() => parseVersionsPage(version('<VersionId>v</VersionId>').slice(0, 60))).toThrow(MalformedXmlError);
  });
});

describe('error bodies and single fields', () => {
  test('an error body gives its code, message and region; an empty or garbled one gives nothing', () => {
    expect(
      parseErrorBody(
        '<?xml version="1.0"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>the ' +
          'region &apos;us-east-1&apos; is wrong</Message><Region>eu-west-1</Region></Error>',
      ),
    ).toEqual({
      code: 'AuthorizationHeaderMalformed',
      message: "the region 'us-east-1' is wrong",
      region: 'eu-west-1',
    });
    expect(parseErrorBody('')).toEqual({});
    expect(parseErrorBody('<html>502 Bad Gateway')).toEqual({});
    expect(parseErrorBody('<ListBucketResult/>')).toEqual({});
  });

  test('a 200 answer is an error when its body is an <Error>, empty, or cut short', () => {
    expect(isErrorIn200('<?xml version="1.0"?>\n<CopyObjectResult><ETag>"abc"</ETag></CopyObjectResult>')).toBe(false);
    expect(isErrorIn200('<?xml version="1.0"?>\n<Error><Code>InternalError</Code></Error>')).toBe(true);
    expect(isErrorIn200('   ')).toBe(true);
    expect(isErrorIn200('<CopyObjectResult><ETag>"ab')).toBe(true);
  });

  test('xmlField reads a child of the root; none for an empty body', () => {
    expect(
      xmlField(
        '<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>x&amp;y</UploadId></InitiateMultipartUploadResult>',
        'UploadId',
      ),
    ).toBe('x&y');
    expect(xmlField('', 'UploadId')).toBeUndefined();
  });

  test('references: the five named ones, decimal and hexadecimal, astral characters', () => {
    expect(decodeReferences('&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;')).toBe('<>&"\'AB😀');
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz

/** Characters XML 1.0 can carry (raw or as a reference): any but most C0 controls and U+FFFE/FFFF. */
const xmlChar = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...'ab/ +%&<>"\';=@é€😀-._~!*()#?\t'.split(''), '\r', '\n', ' ', ']]>'.charAt(0)),
  },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
);
const key = fc
  .array(xmlChar, { minLength: 1, maxLength: 24 })
  .map((chars) => chars.join(''))
  .filter((k) => [...k].every((c) => isXmlText(c.codePointAt(0)!)));

function isXmlText(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    code >= 0x10000
  );
}

const objectArb = fc.record({
  key,
  size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  etag: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.stringMatching(/^[0-9a-f]{32}-[1-9][0-9]{0,3}$/)),
  lastModified: fc.integer({ min: 0, max: 4102444800 }).map((s) => s * 1000),
});

/** One way of writing `text` as element content: escaped, numeric references, CDATA, or a mix. */
const spelling = fc.constantFrom('escape', 'numeric', 'cdata', 'mixed');

function spell(text: string, how: string, seed: number): string {
  const escapeChar = (c: string, i: number): string => {
    const numeric = how === 'numeric' || (how === 'mixed' && (i + seed) % 3 === 0);
    if (numeric) return `&#${(i + seed) % 2 ? 'x' + c.codePointAt(0)!.toString(16) : c.codePointAt(0)};`;
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' }[c] ?? c;
  };
  if (how === 'cdata' && !text.includes(']]>') && !text.includes('\r')) return `<![CDATA[${text}]]>`;
  return [...text].map(escapeChar).join('');
}

/** A ListObjectsV2 page as a server could write it. */
const pageArb = fc
  .record({
    objects: fc.array(objectArb, { maxLength: 8 }),
    encoded: fc.boolean(),
    awsSpaces: fc.boolean(),
    truncated: fc.boolean(),
    token: fc.option(fc.stringMatching(/^[A-Za-z0-9+/=&<>"']{1,40}$/), { nil: undefined }),
    spellings: fc.array(spelling, { minLength: 8, maxLength: 8 }),
    gaps: fc.array(fc.constantFrom('', ' ', '\n  ', '\t', '<!-- c -->', '<?pi x?>'), { minLength: 8, maxLength: 8 }),
    quoted: fc.boolean(),
    attributes: fc.boolean(),
    seed: fc.nat(),
  })
  .map((p) => {
    const gap = (i: number) => p.gaps[i % p.gaps.length]!;
    const encodeKey = (k: string) => (p.awsSpaces ? encodeURIComponent(k).replace(/%20/g, '+') : encodeURIComponent(k));
    const contents = p.objects.map((o, i) => {
      const keyText = p.encoded ? encodeKey(o.key) : spell(o.key, p.spellings[i % 8]!, p.seed + i);
      const etag = p.quoted ? `&quot;${o.etag}&quot;` : o.etag;
      const modified = new Date(o.lastModified).toISOString();
      const sizeGap = gap(i + 3).trim() === '' ? gap(i + 3) : '';
      return (
        `<Contents>${gap(i)}<Key>${keyText}</Key>${gap(i + 1)}` +
        `<LastModified>${modified}</LastModified><ETag>${etag}</ETag>` +
        `${gap(i + 2)}<Size>${sizeGap}${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`
      );
    });
    const token =
      p.token === undefined
        ? ''
        : `<NextContinuationToken>${spell(p.token, p.spellings[0]!, p.seed)}</NextContinuationToken>`;
    const encoding = p.encoded ? `<EncodingType>url</EncodingType>` : '';
    const root = p.attributes
      ? '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/" a=\'1>2\'>'
      : '<ListBucketResult>';
    const xml =
      '<?xml version="1.0" ' +
      `encoding="UTF-8"?>${gap(0)}${root}<Name>b</Name>${gap(1)}<IsTruncated>${p.truncated}</IsTruncated>` +
      `${contents.join(gap(2))}${token}${encoding}${gap(3)}</ListBucketResult>${gap(4)}`;
    return { xml, page: p };
  });

describe('parseListPage, fuzzed', () => {
  test('every page reads back as the objects, truncation and token it was written from', () => {
    fc.assert(
      fc.property(pageArb, ({ xml, page }) => {
        const read = parseListPage(xml);
        expect(read.objects).toEqual(page.objects);
        expect(read.isTruncated).toBe(page.truncated);
        expect(read.nextContinuationToken).toBe(page.token);
      }),
      { numRuns: 400 },
    );
  });

  test('the quick look at a page (to ask for the next one early) reads its token or nothing, never another', () => {
    fc.assert(
      fc.property(pageArb, ({ xml, page }) => {
        const peeked = peekListContinuation(xml);
        // Spelled plainly, the look reads what the parse reads; spelled otherwise (CDATA,
        // references, attributes) it reads nothing, and the lister waits for the parse.
        if (peeked !== undefined) expect(peeked).toBe(page.token);
        if (!page.truncated) expect(peeked).toBeUndefined();
      }),
      { numRuns: 400 },
    );
    expect(peekListContinuation(AWS_PAGE)).toBe('1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=');
    // moto: IsTruncated first, the token after the keys.
    const moto =
      '<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents>' +
      '<NextContinuationToken>dc04df92</NextContinuationToken></ListBucketResult>';
    expect(peekListContinuation(moto)).toBe('dc04df92');
    expect(peekListContinuation(moto.replace('>true<', '>false<'))).toBeUndefined();
    // A key naming the element is escaped text, never the element.
    const trick =
      '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lt;IsTruncated&gt;true</Key>' +
      '</Contents></ListBucketResult>';
    expect(peekListContinuation(trick)).toBeUndefined();
  });

  test('it reads what an independent XML parser (fast-xml-parser) reads', () => {
    const parser = new XMLParser({
      ignoreAttributes: true,
      parseTagValue: false,
      trimValues: false,
      isArray: (name) => name === 'Contents',
      processEntities: true,
      htmlEntities: true,
    });
    fc.assert(
      fc.property(pageArb, ({ xml, page }) => {
        const theirs = parser.parse(xml) as { ListBucketResult: { Contents?: { Key: string | number }[] } };
        const keys = (theirs.ListBucketResult.Contents ?? []).map((c) => String(c.Key));
        const ours = parseListPage(xml).objects.map((o) => o.key);
        const decoded = page.encoded ? keys.map((k) => decodeURIComponent(k.replace(/\+/g, ' '))) : keys;
        expect(ours).toEqual(decoded);
      }),
      { numRuns: 200 },
    );
  });

  test('a page cut anywhere is refused or read as a prefix of its objects, never as other objects', () => {
    fc.assert(
      fc.property(pageArb, fc.double({ min: 0, max: 1, noNaN: true }), ({ xml, page }, where) => {
        const cut = xml.slice(0, Math.floor(xml.length * where));
        let read: ReturnType<typeof parseListPage> | undefined;
        try {
          read = parseListPage(cut);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedXmlError);
          return;
        }
        // Only a cut in the trailing whitespace after the root can still parse: the whole page.
        expect(read.objects).toEqual(page.objects);
      }),
      { numRuns: 400 },
    );
  });

  test('garbage never throws anything but MalformedXmlError, and never hangs', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.constantFrom('', '<ListBucketResult>', '<ListBucketResult><Contents><Key>'),
        (noise, lead) => {
          try {
            parseXml(lead + noise);
            parseListPage(lead + noise);
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedXmlError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
