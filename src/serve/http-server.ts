import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FsidmapError } from '../errors.js';
import { type ListenSpec, allowedHosts, clearStaleSocket, isLoopback } from './listen.js';
import { renderPage } from './page/html.js';
import type { SpaceSource } from './read-space.js';
import type { SpaceWatcher } from './watcher.js';

export interface HttpOptions {
  readonly listen: ListenSpec;
  readonly source: SpaceSource;
  readonly watcher: SpaceWatcher;
  /** Server-sent-event clients at once (each holds a connection). */
  readonly maxEventClients?: number;
}

export interface HttpServer {
  readonly url: string;
  /** Only this machine can connect (loopback address or Unix socket). */
  readonly local: boolean;
  readonly listen: ListenSpec;
  close(): Promise<void>;
}

const COMMON_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  hint?: string,
  extra: Record<string, string> = {},
): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify({ error: { code, message, hint: hint ?? null } }), extra);
}

/**
 * The read-only HTTP face of fsidmap serve: GET and HEAD only, four routes
 * (the page, its data, who, events), nothing that writes. On a loopback
 * address requests must name this server in Host, so a web page elsewhere
 * cannot read it through DNS rebinding.
 */
export async function startHttp(options: HttpOptions): Promise<HttpServer> {
  const { listen, source, watcher } = options;
  const page = renderPage();
  const events = new Set<ServerResponse>();
  const maxEvents = options.maxEventClients ?? 64;
  let hosts: Set<string> | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'ERR_READ_ONLY', `${req.method} is not served: this server only reads`, 'use GET', { Allow: 'GET, HEAD' });
      return;
    }
    if (hosts && !hosts.has((req.headers.host ?? '').toLowerCase())) {
      sendError(res, 421, 'ERR_HOST', 'this server answers only to its own loopback address', `open ${[...hosts][0]}`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://local');
    switch (url.pathname) {
      case '/':
        send(res, 200, 'text/html; charset=utf-8', page.html, { 'Content-Security-Policy': page.csp });
        return;
      case '/api/space':
        send(res, 200, 'application/json; charset=utf-8', watcher.current.json);
        return;
      case '/api/who': {
        const id = url.searchParams.get('id') ?? '';
        if (!/^\d{1,10}$/.test(id) || Number(id) > 4294967295) {
          sendError(
            res,
            400,
            'ERR_USAGE',
            `id must be a decimal host id from 0 to 4294967295, got "${id.slice(0, 40)}"`,
            'e.g. api/who?id=1652555776',
          );
          return;
        }
        send(res, 200, 'application/json; charset=utf-8', JSON.stringify(await source.who(Number(id))));
        return;
      }
      case '/api/events':
        if (events.size >= maxEvents) {
          sendError(res, 503, 'ERR_BUSY', 'too many live pages are open', 'close some and reload');
          return;
        }
        res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
        res.write(`retry: 2000\nevent: stamp\ndata: ${JSON.stringify({ stamp: watcher.current.space.stamp, error: watcher.failure })}\n\n`);
        events.add(res);
        req.on('close', () => events.delete(res));
        return;
      default:
        sendError(res, 404, 'ERR_NOT_FOUND', `no such page: ${url.pathname.slice(0, 80)}`, 'the page is at /');
    }
  };

  const broadcast = (event: string, data: unknown): void => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of events) res.write(text);
  };
  const onStamp = (stamp: string): void => broadcast('stamp', { stamp, error: null });
  const onSample = (sample: unknown): void => broadcast('sample', sample);
  const onFailure = (error: string): void => broadcast('stamp', { stamp: watcher.current.space.stamp, error });
  watcher.on('stamp', onStamp);
  watcher.on('sample', onSample);
  watcher.on('failure', onFailure);
  // A comment line now and then keeps proxies from closing an idle stream, and finds clients that went away.
  const keepAlive = setInterval(() => {
    for (const res of events) res.write(': keep-alive\n\n');
  }, 20000);
  keepAlive.unref();

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof FsidmapError ? e : undefined;
      if (!res.headersSent) sendError(res, 500, err?.code ?? 'ERR_INTERNAL', err?.message ?? 'the server failed to answer', err?.hint);
      else res.destroy();
    });
  });
  server.headersTimeout = 10000;
  server.requestTimeout = 30000;

  await bind(server, listen);
  let url: string;
  let local: boolean;
  let bound: ListenSpec = listen;
  if (listen.kind === 'unix') {
    url = `http+unix://${encodeURIComponent(listen.path)}/`;
    local = true;
  } else {
    const port = (server.address() as AddressInfo).port;
    bound = { ...listen, port };
    local = isLoopback(listen.host);
    if (local) hosts = allowedHosts(listen.host, port);
    const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
    url = `http://${host}:${port}/`;
  }

  return {
    url,
    local,
    listen: bound,
    close: () =>
      new Promise<void>((resolve) => {
        watcher.off('stamp', onStamp);
        watcher.off('sample', onSample);
        watcher.off('failure', onFailure);
        clearInterval(keepAlive);
        for (const res of events) res.end();
        events.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function bind(server: Server, listen: ListenSpec): Promise<void> {
  if (listen.kind === 'unix') await clearStaleSocket(listen.path);
  // A Unix socket is created with the process umask: 0177 makes it 0600, the owner's alone.
  const oldMask = listen.kind === 'unix' ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (listen.kind === 'unix') server.listen(listen.path, () => resolve());
      else server.listen(listen.port, listen.host, () => resolve());
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const where = listen.kind === 'unix' ? listen.path : `${listen.host}:${listen.port}`;
    if (code === 'EADDRINUSE')
      throw new FsidmapError('ERR_SERVE_ADDRESS_IN_USE', `${where} is in use`, {
        hint: 'choose another --listen port (0: any free one)',
        context: { where },
      });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new FsidmapError('ERR_SERVE_ADDRESS', `cannot listen on ${where}: no such local address`, {
        hint: 'give an address of this machine, e.g. 127.0.0.1',
        context: { where },
      });
    }
    if (code === 'EACCES')
      throw new FsidmapError('ERR_SERVE_ADDRESS', `not allowed to listen on ${where}`, {
        hint: 'ports below 1024 need root; choose another',
        context: { where },
      });
    throw e;
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
}
