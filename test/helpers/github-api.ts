// A local HTTP server standing in for the GitHub REST API: the issue-comment and
// commit→pull-request endpoints the Action uses, with real state (comments persist between
// requests), a record of every request, and a switch to answer 403 like a read-only token.

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

export interface FakeComment {
  id: number;
  issueNumber: number;
  body: string;
  user: { login: string; type: 'Bot' | 'User' };
  author_association: string;
}

export interface FakePullRequest {
  number: number;
  merged_at: string | null;
  merge_commit_sha: string | null;
}

/** Which requests answer 403: none, comment writes (POST/PATCH) or every comment request. */
export type ForbidMode = 'none' | 'comment-writes' | 'comments';

export interface GitHubApiServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  readonly comments: FakeComment[];
  /** Pull requests returned for `GET /repos/:o/:r/commits/:sha/pulls`. */
  readonly pullsByCommit: Map<string, FakePullRequest[]>;
  forbid: ForbidMode;
  /** Adds a comment as if someone else wrote it (default: a user without write access). */
  addComment(issueNumber: number, body: string, user?: Partial<Pick<FakeComment, 'user' | 'author_association'>>): FakeComment;
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
  let server: Server;

  const state: GitHubApiServer = {
    url: '',
    requests,
    comments,
    pullsByCommit,
    forbid: 'none',
    addComment(issueNumber, body, user = {}) {
      const comment: FakeComment = {
        id: nextId++,
        issueNumber,
        body,
        user: user.user ?? { login: 'someone', type: 'User' },
        author_association: user.author_association ?? 'NONE',
      };
      comments.push(comment);
      return comment;
    },
    commentsOn: (issueNumber) => comments.filter((c) => c.issueNumber === issueNumber),
    requestsTo: (method, path) =>
      requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path))),
    reset() {
      requests.length = 0;
      comments.length = 0;
      pullsByCommit.clear();
      state.forbid = 'none';
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };

  const toApi = (c: FakeComment & { repo: string }) => ({
    id: c.id,
    body: c.body,
    html_url: `https://github.test/${c.repo}/pull/${c.issueNumber}#issuecomment-${c.id}`,
    user: c.user,
    author_association: c.author_association,
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    requests.push({ method, url: req.url ?? '', path: url.pathname, authorization: req.headers.authorization, body });

    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };

    let m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    if (m) {
      const repo = `${m[1]}/${m[2]}`;
      const issueNumber = Number(m[3]);
      if (state.forbid === 'comments' || (state.forbid === 'comment-writes' && method !== 'GET')) return send(403, FORBIDDEN);
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
        return send(200, slice.map((c) => toApi({ ...c, repo })), headers);
      }
      if (method === 'POST') {
        const text = (body as { body?: unknown } | undefined)?.body;
        if (typeof text !== 'string') return send(422, { message: 'body is required' });
        if (text.length > 65_536) return send(422, { message: 'Body is too long (maximum is 65536 characters)' });
        const comment = state.addComment(issueNumber, text, { user: { ...BOT }, author_association: 'NONE' });
        return send(201, toApi({ ...comment, repo }));
      }
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    if (m && method === 'PATCH') {
      if (state.forbid !== 'none') return send(403, FORBIDDEN);
      const comment = comments.find((c) => c.id === Number(m![3]));
      if (!comment) return send(404, { message: 'Not Found' });
      const text = (body as { body?: unknown } | undefined)?.body;
      if (typeof text !== 'string') return send(422, { message: 'body is required' });
      if (text.length > 65_536) return send(422, { message: 'Body is too long (maximum is 65536 characters)' });
      comment.body = text;
      return send(200, toApi({ ...comment, repo: `${m[1]}/${m[2]}` }));
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([^/]+)\/pulls$/.exec(url.pathname);
    if (m && method === 'GET') return send(200, pullsByCommit.get(m[3]!) ?? []);
    return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }

  server = createServer((req, res) => {
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
