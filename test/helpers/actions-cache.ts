// A local HTTP server standing in for the Actions cache service (the v1 protocol @actions/cache
// speaks when ACTIONS_CACHE_URL is set): look up an entry by key and restore-key prefixes, reserve,
// upload in chunks (Content-Range), commit, and download the archive. Real state, so one run of
// the committed dist/index.js saves what the next one restores.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

interface Entry {
  key: string;
  version: string;
  body: Buffer;
  committed: boolean;
}

export interface ActionsCacheServer {
  /** ACTIONS_CACHE_URL, ending in '/'. */
  readonly url: string;
  readonly keys: () => string[];
  close(): Promise<void>;
}

export async function startActionsCache(): Promise<ActionsCacheServer> {
  const entries = new Map<number, Entry>();
  let nextId = 1;
  const json = (res: import('node:http').ServerResponse, status: number, payload?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(payload === undefined ? undefined : JSON.stringify(payload));
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      if (req.method === 'GET' && path === '/_apis/artifactcache/cache') {
        const keys = (url.searchParams.get('keys') ?? '').split(',');
        const version = url.searchParams.get('version') ?? '';
        const committed = [...entries.entries()].filter(([, e]) => e.committed && e.version === version).reverse();
        // The primary key exactly, then each key as a prefix, newest first (as GitHub matches).
        const hit =
          committed.find(([, e]) => e.key === keys[0]) ??
          keys.map((k) => committed.find(([, e]) => e.key.startsWith(k))).find(Boolean);
        if (!hit) return json(res, 204);
        return json(res, 200, {
          cacheKey: hit[1].key,
          scope: 'refs/heads/main',
          archiveLocation: `${state.url}archives/${hit[0]}`,
        });
      }
      if (req.method === 'POST' && path === '/_apis/artifactcache/caches') {
        const { key, version } = JSON.parse(body.toString()) as { key: string; version: string };
        if ([...entries.values()].some((e) => e.key === key && e.version === version))
          return json(res, 409, { message: 'Cache already exists' });
        const id = nextId++;
        entries.set(id, { key, version, body: Buffer.alloc(0), committed: false });
        return json(res, 201, { cacheId: id });
      }
      const chunk = /^\/_apis\/artifactcache\/caches\/(\d+)$/.exec(path);
      const entry = chunk ? entries.get(Number(chunk[1])) : undefined;
      if (chunk && entry && req.method === 'PATCH') {
        const start = Number(/bytes (\d+)-/.exec(String(req.headers['content-range']))?.[1] ?? 0);
        const whole = Buffer.alloc(Math.max(entry.body.length, start + body.length));
        entry.body.copy(whole);
        body.copy(whole, start);
        entry.body = whole;
        return json(res, 204);
      }
      if (chunk && entry && req.method === 'POST') {
        entry.committed = true;
        return json(res, 204);
      }
      const archive = /^\/archives\/(\d+)$/.exec(path);
      const stored = archive ? entries.get(Number(archive[1])) : undefined;
      if (stored && req.method === 'GET') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(stored.body.length),
        });
        return res.end(stored.body);
      }
      json(res, 404, { message: 'not found' });
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const state: ActionsCacheServer = {
    url: `http://127.0.0.1:${port}/`,
    keys: () => [...entries.values()].filter((e) => e.committed).map((e) => e.key),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return state;
}

function read(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
