// A local HTTP server standing in for the GitHub API: the issue-comment, commit→pull-request,
// pull-request and contents endpoints of the REST API the Action uses, and the GraphQL queries for
// a comment's edit history (paged, 100 at most per page) and for one revision's text, with real
// state (comments persist with their times, every edit is recorded with its editor, time and text,
// as GitHub's `userContentEdits` does; merges have a time and a head), a record of every request,
// a switch to answer 403 like a read-only token, and one to never answer at all (a stalled API).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/repos/o/r/issues/7/comments?per_page=100`. */
  url: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export interface FakeUser {
  login: string;
  type: 'Bot' | 'User';
}

export interface FakeComment {
  id: number;
  issueNumber: number;
  body: string;
  user: FakeUser;
  author_association: string;
  /** ISO 8601 with milliseconds (GitHub gives seconds; the order is what matters here). */
  createdAt: string;
  /** The body it was created with. */
  createdBody: string;
  /** Every edit after creation, oldest first, with who made it, when, and the text it left. */
  edits: { editor: FakeUser | null; body: string; editedAt: string }[];
}

export interface FakeArtifact {
  id: number;
  name: string;
  workflowRunBackendId: string;
  workflowJobRunBackendId: string;
  /** Staged blocks of the blob, by block id. */
  blocks: Map<string, Buffer>;
  /** The committed blob (a zip of the uploaded files); null until the block list is put. */
  blob: Buffer | null;
  finalized: boolean;
  /** What FinalizeArtifact reported: size in bytes and `sha256:<hex>`. */
  size: string | null;
  hash: string | null;
}

export interface FakePullRequest {
  number: number;
  merged_at: string | null;
  merge_commit_sha: string | null;
  head?: { sha: string };
}

/**
 * Which requests answer 403: none, comment writes (POST/PATCH), every comment request, GraphQL, or the commit → pull
 * request lookup.
 */
export type ForbidMode = 'none' | 'comment-writes' | 'comments' | 'graphql' | 'pulls';

export interface GitHubApiServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  readonly comments: FakeComment[];
  /** Pull requests returned for `GET /repos/:o/:r/commits/:sha/pulls`. */
  readonly pullsByCommit: Map<string, FakePullRequest[]>;
  forbid: ForbidMode;
  /** When true, requests are read and recorded but never answered. */
  stall: boolean;
  /** Who the token's writes (POST, PATCH) are made as. */
  tokenUser: FakeUser;
  /** File contents served by `GET /repos/:o/:r/contents/:path?ref=<sha>`, keyed `<sha>:<path>`. */
  readonly contents: Map<string, string>;
  /** Pull requests served by `GET /repos/:o/:r/pulls/:number`. */
  readonly pulls: Map<
    number,
    { number: number; state: 'open' | 'closed'; base: { ref: string; sha: string }; head: { sha: string } }
  >;
  /** The clock of comments, edits and merges (ms); tests may move it. */
  now: () => number;
  /** `sha` is the merge commit of pull request `number`, merged now at head `head` (default: the test events' head). */
  merge(sha: string, number: number, head?: string): FakePullRequest;
  /**
   * The Actions artifact service (artifacts v4, as @actions/artifact talks to it): Twirp
   * `ArtifactService` CreateArtifact / FinalizeArtifact, and the signed blob upload URL it hands
   * out (Azure Blob `Put Block` / `Put Block List`). Point ACTIONS_RESULTS_URL here.
   */
  readonly artifacts: FakeArtifact[];
  /** A runtime token whose claims name this run and job, as the runner's ACTIONS_RUNTIME_TOKEN does. */
  readonly runtimeToken: string;
  /** Adds a comment as if someone else wrote it (default: a user without write access). */
  addComment(
    issueNumber: number,
    body: string,
    user?: Partial<Pick<FakeComment, 'user' | 'author_association'>>,
  ): FakeComment;
  /** Edits a comment as `editor` (anyone with write access can edit any comment). */
  editComment(id: number, body: string, editor: FakeUser | null): void;
  commentsOn(issueNumber: number): FakeComment[];
  /** Requests whose method and path match (path may be a RegExp). */
  requestsTo(method: string, path: RegExp | string): RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
}

const BOT = { login: 'github-actions[bot]', type: 'Bot' } as const;
const FORBIDDEN = {
  message: 'Resource not accessible by integration',
  documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
  status: '403',
};

export async function startGitHubApi(): Promise<GitHubApiServer> {
  const requests: RecordedRequest[] = [];
  const comments: FakeComment[] = [];
  const pullsByCommit = new Map<string, FakePullRequest[]>();
  let nextId = 1000;

  const contents = new Map<string, string>();
  const pulls: GitHubApiServer['pulls'] = new Map();
  const artifacts: FakeArtifact[] = [];
  const runtimeToken = fakeJwt({
    scp:
      `Actions.GenericRead:00000000 Actions.Results:${RUN_BACKEND_ID}:${JOB_BACKEND_ID} ` +
      'Actions.UploadArtifacts:0:0/1',
  });
  const state: GitHubApiServer = {
    url: '',
    requests,
    comments,
    pullsByCommit,
    contents,
    pulls,
    artifacts,
    runtimeToken,
    forbid: 'none',
    stall: false,
    tokenUser: { ...BOT },
    now: () => Date.now(),
    merge(sha, number, head = 'feed'.repeat(10)) {
      const pull = {
        number,
        merged_at: new Date(state.now()).toISOString(),
        merge_commit_sha: sha,
        head: { sha: head },
      };
      pullsByCommit.set(sha, [pull]);
      return pull;
    },
    addComment(issueNumber, body, user = {}) {
      const comment: FakeComment = {
        id: nextId++,
        issueNumber,
        body,
        user: user.user ?? { login: 'someone', type: 'User' },
        author_association: user.author_association ?? 'NONE',
        createdAt: new Date(state.now()).toISOString(),
        createdBody: body,
        edits: [],
      };
      comments.push(comment);
      return comment;
    },
    editComment(id, body, editor) {
      const comment = comments.find((c) => c.id === id);
      if (!comment) throw new Error(`no comment ${id}`);
      comment.body = body;
      comment.edits.push({ editor, body, editedAt: new Date(state.now()).toISOString() });
    },
    commentsOn: (issueNumber) => comments.filter((c) => c.issueNumber === issueNumber),
    requestsTo: (method, path) =>
      requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path))),
    reset() {
      requests.length = 0;
      comments.length = 0;
      pullsByCommit.clear();
      contents.clear();
      pulls.clear();
      artifacts.length = 0;
      state.forbid = 'none';
      state.stall = false;
      state.tokenUser = { ...BOT };
      state.now = () => Date.now();
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };

  const toApi = (c: FakeComment & { repo: string }) => ({
    id: c.id,
    node_id: nodeId(c.id),
    body: c.body,
    html_url: `https://github.test/${c.repo}/pull/${c.issueNumber}#issuecomment-${c.id}`,
    user: c.user,
    author_association: c.author_association,
    created_at: c.createdAt,
    // The REST API only tells *that* a comment changed, not who changed it.
    updated_at: c.edits.at(-1)?.editedAt ?? c.createdAt,
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const bytes = await readBytes(req);
    const raw = req.url?.startsWith('/artifact-blob/') ? bytes : bytes.toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    let body: unknown = undefined;
    if (typeof raw === 'string' && raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    requests.push({ method, url: req.url ?? '', path: url.pathname, authorization: req.headers.authorization, body });
    if (state.stall) return; // never answered: the client must give up by itself

    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };

    let m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    if (m) {
      const repo = `${m[1]}/${m[2]}`;
      const issueNumber = Number(m[3]);
      if (state.forbid === 'comments' || (state.forbid === 'comment-writes' && method !== 'GET'))
        return send(403, FORBIDDEN);
      if (method === 'GET') {
        const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100);
        const page = Number(url.searchParams.get('page') ?? 1);
        const all = state.commentsOn(issueNumber);
        const slice = all.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        if (page * perPage < all.length) {
          const next = new URL(url.toString());
          next.searchParams.set('page', String(page + 1));
          headers.link = `<${state.url}${next.pathname}${next.search}>; rel="next"`;
        }
        return send(
          200,
          slice.map((c) => toApi({ ...c, repo })),
          headers,
        );
      }
      if (method === 'POST') {
        const text = (body as { body?: unknown } | undefined)?.body;
        if (typeof text !== 'string') return send(422, { message: 'body is required' });
        if (text.length > 65_536) return send(422, { message: 'Body is too long (maximum is 65536 characters)' });
        const comment = state.addComment(issueNumber, text, {
          user: { ...state.tokenUser },
          author_association: 'NONE',
        });
        return send(201, toApi({ ...comment, repo }));
      }
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    if (m && method === 'DELETE') {
      if (state.forbid === 'comment-writes' || state.forbid === 'comments') return send(403, FORBIDDEN);
      const index = comments.findIndex((c) => c.id === Number(m![3]));
      if (index < 0) return send(404, { message: 'Not Found' });
      comments.splice(index, 1);
      res.writeHead(204);
      return void res.end();
    }
    if (m && method === 'PATCH') {
      if (state.forbid === 'comment-writes' || state.forbid === 'comments') return send(403, FORBIDDEN);
      const comment = comments.find((c) => c.id === Number(m![3]));
      if (!comment) return send(404, { message: 'Not Found' });
      const text = (body as { body?: unknown } | undefined)?.body;
      if (typeof text !== 'string') return send(422, { message: 'body is required' });
      if (text.length > 65_536) return send(422, { message: 'Body is too long (maximum is 65536 characters)' });
      if (comment.body !== text) state.editComment(comment.id, text, { ...state.tokenUser });
      return send(200, toApi({ ...comment, repo: `${m[1]}/${m[2]}` }));
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/.exec(url.pathname);
    if (m && method === 'GET') {
      const pull = pulls.get(Number(m[3]));
      return pull
        ? send(200, pull)
        : send(404, {
            message: 'Not Found',
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#get-a-pull-request',
          });
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/contents\/(.+)$/.exec(url.pathname);
    if (m && method === 'GET') {
      const file = decodeURIComponent(m[3]!);
      const text = contents.get(`${url.searchParams.get('ref') ?? ''}:${file}`);
      if (text === undefined)
        return send(404, {
          message: 'Not Found',
          documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content',
        });
      return send(200, {
        type: 'file',
        encoding: 'base64',
        path: file,
        name: file.split('/').pop(),
        content: Buffer.from(text).toString('base64'),
      });
    }
    if (url.pathname.startsWith('/twirp/github.actions.results.api.v1.ArtifactService/') && method === 'POST')
      return send(...twirp(url.pathname.split('/').pop()!, body, req.headers.authorization));
    if (url.pathname.startsWith('/artifact-blob/') && method === 'PUT') return blobPut(url, raw, res);
    if (url.pathname === '/graphql' && method === 'POST')
      return state.forbid === 'graphql' ? send(403, FORBIDDEN) : send(200, graphql(body));
    m = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([^/]+)\/pulls$/.exec(url.pathname);
    if (m && method === 'GET')
      return state.forbid === 'pulls' ? send(403, FORBIDDEN) : send(200, pullsByCommit.get(m[3]!) ?? []);
    return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }

  /** The artifact service's two calls of an upload, checked as the real service checks them. */
  function twirp(method: string, body: unknown, authorization: string | undefined): [number, unknown] {
    if (authorization !== `Bearer ${runtimeToken}`) return [401, { code: 'unauthenticated', msg: 'bad runtime token' }];
    const request = (body ?? {}) as Record<string, unknown>;
    const ids = {
      workflowRunBackendId: String(request.workflow_run_backend_id ?? ''),
      workflowJobRunBackendId: String(request.workflow_job_run_backend_id ?? ''),
    };
    if (ids.workflowRunBackendId !== RUN_BACKEND_ID || ids.workflowJobRunBackendId !== JOB_BACKEND_ID)
      return [400, { code: 'invalid_argument', msg: 'unknown backend ids' }];
    const name = String(request.name ?? '');
    if (method === 'CreateArtifact') {
      if (artifacts.some((a) => a.name === name))
        return [409, { code: 'already_exists', msg: 'an artifact with this name already exists on the workflow run' }];
      const artifact: FakeArtifact = {
        id: nextId++,
        name,
        ...ids,
        blocks: new Map(),
        blob: null,
        finalized: false,
        size: null,
        hash: null,
      };
      artifacts.push(artifact);
      const blob = `${state.url}/artifact-blob/actions-results/${artifact.id}/${encodeURIComponent(name)}.zip`;
      return [200, { ok: true, signed_upload_url: `${blob}?sig=fake-signature&sv=2023-11-03` }];
    }
    if (method === 'FinalizeArtifact') {
      const artifact = artifacts.find((a) => a.name === name && !a.finalized);
      if (!artifact?.blob) return [404, { code: 'not_found', msg: 'no uploaded artifact of this name' }];
      artifact.finalized = true;
      artifact.size = String(request.size ?? '');
      artifact.hash = typeof request.hash === 'string' ? request.hash : null;
      return [200, { ok: true, artifact_id: String(artifact.id) }];
    }
    return [404, { code: 'bad_route', msg: `no method ${method}` }];
  }

  /** Azure Blob `Put Block` (`comp=block`) and `Put Block List` (`comp=blocklist`) on the signed URL. */
  function blobPut(url: URL, raw: Buffer | string, res: ServerResponse): void {
    const reply = (status: number) => {
      res.writeHead(status, {
        'x-ms-request-id': `req-${nextId++}`,
        'x-ms-version': '2023-11-03',
        etag: '"0x8DC0000000000000"',
        'last-modified': new Date().toUTCString(),
        'content-length': '0',
      });
      res.end();
    };
    const artifact = artifacts.find(
      (a) => url.pathname === `/artifact-blob/actions-results/${a.id}/${encodeURIComponent(a.name)}.zip`,
    );
    if (!artifact || url.searchParams.get('sig') !== 'fake-signature') return reply(403);
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const comp = url.searchParams.get('comp');
    if (comp === 'block') {
      artifact.blocks.set(url.searchParams.get('blockid') ?? '', bytes);
      return reply(201);
    }
    if (comp === 'blocklist') {
      const ids = [...bytes.toString('utf8').matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]*)<\//g)].map(
        (m) => m[1]!,
      );
      if (ids.some((id) => !artifact.blocks.has(id))) return reply(400);
      artifact.blob = Buffer.concat(ids.map((id) => artifact.blocks.get(id)!));
      return reply(201);
    }
    artifact.blob = bytes; // a single Put Blob
    return reply(201);
  }

  /**
   * The two queries the Action sends, answered as GitHub's GraphQL API does: a comment's author,
   * times and edit history (newest first, `first` ≤ 100 per page, `after` a cursor), and one
   * revision's text (`diff` of a UserContentEdit is the whole body it left).
   */
  function graphql(body: unknown): unknown {
    const { query, variables } = (body ?? {}) as { query?: string; variables?: { id?: string; after?: string | null } };
    if (query?.includes('on UserContentEdit')) {
      const found = revisionById(variables?.id ?? '');
      return { data: { node: found ? { editedAt: found.editedAt, diff: found.diff } : null } };
    }
    if (!query?.includes('userContentEdits')) return { errors: [{ message: 'unsupported query in the fake API' }] };
    const comment = comments.find((c) => nodeId(c.id) === variables?.id);
    if (!comment) return { data: { node: null } };
    const first = Number(/userContentEdits\(first: (\d+)/.exec(query)?.[1] ?? 100);
    if (first > 100) return { errors: [{ message: 'first may not exceed 100' }] };
    const last = comment.edits.at(-1);
    const history = revisions(comment);
    const start = variables?.after ? Number(variables.after) : 0;
    const page = history.slice(start, start + first);
    return {
      data: {
        node: {
          author: actor(comment.user),
          editor: last ? actor(last.editor) : null,
          createdAt: comment.createdAt,
          lastEditedAt: last ? last.editedAt : null,
          userContentEdits: {
            totalCount: history.length,
            pageInfo: {
              hasNextPage: start + first < history.length,
              endCursor: page.length > 0 ? String(start + page.length) : null,
            },
            nodes: page.map((h) => ({ id: h.id, editedAt: h.editedAt, editor: actor(h.editor) })),
          },
        },
      },
    };
  }

  /** GitHub lists the creation as the first edit once a comment was edited; newest first. */
  function revisions(comment: FakeComment): { id: string; editor: FakeUser | null; editedAt: string; diff: string }[] {
    if (comment.edits.length === 0) return [];
    const all = [{ editor: comment.user, editedAt: comment.createdAt, body: comment.createdBody }, ...comment.edits];
    return all
      .map((e, i) => ({ id: `UCE_${comment.id}_${i}`, editor: e.editor, editedAt: e.editedAt, diff: e.body }))
      .reverse();
  }

  function revisionById(id: string): { editedAt: string; diff: string } | undefined {
    const m = /^UCE_(\d+)_(\d+)$/.exec(id);
    const comment = m ? comments.find((c) => c.id === Number(m[1])) : undefined;
    return comment ? revisions(comment).find((r) => r.id === id) : undefined;
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  (state as { url: string }).url = `http://127.0.0.1:${port}`;
  return state;
}

function readBytes(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const RUN_BACKEND_ID = 'ce7f54c7-61c7-4aae-887f-30da475f5f1a';
const JOB_BACKEND_ID = 'ca395085-040a-526b-2ce8-bdc85f692774';

/** A JWT as the runner hands it out (the artifact client reads its claims, it does not check the signature). */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'RS256' })}.${part({ ...claims, exp: 4_102_444_800 })}.c2lnbmF0dXJl`;
}

/** GraphQL node ids are opaque strings; these look like GitHub's. */
function nodeId(id: number): string {
  return `IC_kwDO${Buffer.from(String(id)).toString('base64').replace(/=+$/, '')}`;
}

/** GraphQL names a bot without the `[bot]` suffix REST uses, and says what it is in __typename. */
function actor(user: FakeUser | null): { __typename: string; login: string } | null {
  if (!user) return null;
  return user.type === 'Bot'
    ? { __typename: 'Bot', login: user.login.replace(/\[bot\]$/, '') }
    : { __typename: 'User', login: user.login };
}
