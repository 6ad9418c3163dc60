/**
 * The status page's HTTP server (node's http module, no framework):
 *
 *   GET /         the live page (page.ts): jobs, trainers, losses over time, the tables filling in
 *   GET /status   the status snapshot as JSON (the coordinator's StatusSnapshot)
 *   GET /live     everything the page shows, as JSON (live.ts)
 *
 * The coordinator starts it with `--http PORT` and passes its live snapshot; `study status DIR
 * --http PORT` starts it on a run directory alone (status.json). Binds 127.0.0.1 unless told
 * otherwise; port 0 takes any free port (see `url`). Read-only: nothing it serves changes the run.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { StatusSnapshot } from '../coordinator/status';
import { LiveSource } from './live';
import { renderStatusPage } from './page';

export interface StatusServerOptions {
  /** TCP port; 0 for any free port. */
  port: number;
  /** Interface to listen on (default 127.0.0.1; '0.0.0.0' to be reached from other hosts). */
  host?: string;
  runDir: string;
  /** The coordinator's live snapshot; default: the run directory's status.json. */
  snapshot?: () => StatusSnapshot | Promise<StatusSnapshot>;
  /** How often the page polls /live (default 2000 ms). */
  refreshMs?: number;
  /** Told about requests that failed (default: nothing). */
  onError?: (err: Error) => void;
}

export interface StatusServer {
  /** http://host:port/ */
  url: string;
  port: number;
  /** Stops listening and closes open connections; safe to call twice. */
  close(): Promise<void>;
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startStatusServer(opts: StatusServerOptions): Promise<StatusServer> {
  const source = new LiveSource({ runDir: opts.runDir, snapshot: opts.snapshot });
  const page = renderStatusPage({ refreshMs: opts.refreshMs ?? 2000 });
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', `${req.method} not allowed: the status server is read-only\n`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handle = async (): Promise<void> => {
      switch (url.pathname) {
        case '/':
        case '/index.html':
          send(res, 200, 'text/html; charset=utf-8', page);
          return;
        case '/status':
          send(res, 200, 'application/json', JSON.stringify((await source.snapshot()).status));
          return;
        case '/live':
          send(res, 200, 'application/json', JSON.stringify(await source.get()));
          return;
        default:
          send(res, 404, 'text/plain; charset=utf-8', `not found: ${url.pathname} (try /, /status or /live)\n`);
      }
    };
    handle().catch((err: Error) => {
      opts.onError?.(err);
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: err.message }));
      else res.end();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
