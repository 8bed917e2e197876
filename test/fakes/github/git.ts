import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { whoIs } from './auth.ts';
import type { FakeState } from './state.ts';
import type { RecordedGitRequest } from './types.ts';

/*
 * git's smart HTTP protocol over the bare repositories under `gitRoot`, served by `git http-backend`
 * as GitHub serves clones and pushes: `Authorization: Basic` with any user and a token the API takes
 * as the password (`x-access-token`).
 */

export async function handleGit(s: FakeState, req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
  const u = new URL(req.url ?? '/', 'http://fake');
  const pathInfo = u.pathname.slice('/git'.length);
  const rec: RecordedGitRequest = { method: req.method ?? 'GET', path: pathInfo, service: u.searchParams.get('service') ?? (/(git-[a-z-]+)$/.exec(pathInfo)?.[1] ?? null), status: 0, authorized: false };
  s.gitRequests.push(rec);
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const password = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':').slice(1).join(':') : '';
  rec.authorized = whoIs(s, `token ${password}`) !== null;
  if (!rec.authorized) {
    rec.status = 401;
    res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' });
    res.end('Invalid username or token.');
    return;
  }
  if (!s.opts.gitRoot) {
    rec.status = 404;
    res.writeHead(404).end();
    return;
  }
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: s.opts.gitRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: s.opts.gitRoot,
      PATH_INFO: pathInfo,
      REQUEST_METHOD: req.method ?? 'GET',
      QUERY_STRING: u.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: String(raw.length),
      REMOTE_USER: 'x-access-token',
      REMOTE_ADDR: '127.0.0.1',
      ...(req.headers['content-encoding'] && { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }),
      ...(req.headers['git-protocol'] && { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stdin.on('error', () => undefined);
  child.stdin.end(raw);
  await new Promise<void>((resolve) => child.on('close', () => resolve()));
  const all = Buffer.concat(out);
  let split = all.indexOf('\r\n\r\n');
  let sep = 4;
  if (split < 0) {
    split = all.indexOf('\n\n');
    sep = 2;
  }
  const head = all.subarray(0, Math.max(split, 0)).toString();
  const headers: Record<string, string> = {};
  let status = 200;
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
    else headers[name] = value;
  }
  rec.status = status;
  res.writeHead(status, headers);
  res.end(split < 0 ? all : all.subarray(split + sep));
}
