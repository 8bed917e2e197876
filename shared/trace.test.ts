import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { logSink } from '../test/helpers/env.ts';
import { startOtlpReceiver } from '../test/helpers/otlp.ts';
import { loadConfig } from './config.ts';
import {
  contextOfTraceparent,
  extractTrace,
  injectTrace,
  inSpan,
  parentIn,
  startTracing,
  traceExportUrl,
  traceparentOf,
  tracing,
  type HeaderCarrier,
} from './trace.ts';

/** A carrier like NATS's headers. */
function carrier(init: Record<string, string> = {}): HeaderCarrier & { all: Map<string, string> } {
  const all = new Map(Object.entries(init));
  return { all, get: (k) => all.get(k) ?? '', set: (k, v) => void all.set(k, v), keys: () => [...all.keys()] };
}

describe('where traces go', () => {
  it('nowhere unless an endpoint is set; OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces, the traces endpoint is used as it is', () => {
    expect(traceExportUrl(loadConfig({}))).toBeNull();
    expect(traceExportUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }))).toBe('http://collector:4318/v1/traces');
    expect(traceExportUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otel/' }))).toBe('http://collector:4318/otel/v1/traces');
    expect(
      traceExportUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/in' })),
    ).toBe('https://traces.example/in');
    expect(traceExportUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }))).toBeNull();
    expect(traceExportUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }))).toBeNull();
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ OTEL_BSP_SCHEDULE_DELAY: 'soon' })).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
  });
});

/**
 * A fresh Node.js process that records every module it resolves, starts tracing with `env`, makes a
 * span and injects its context into a carrier: what it loaded and what it injected.
 */
async function probe(env: Record<string, string>): Promise<{ started: boolean; sdk: string[]; injected: string[] }> {
  const shared = new URL('./index.ts', import.meta.url).href;
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    const { createLogger, injectTrace, inSpan, loadConfig, startTracing } = await import(${JSON.stringify(shared)});
    const t = await startTracing({ config: loadConfig(JSON.parse(process.argv[1])), service: 'probe', log: createLogger({ level: 'silent' }) });
    const headers = new Map();
    await inSpan('probe', {}, async () => injectTrace({ get: (k) => headers.get(k) ?? '', set: (k, v) => headers.set(k, v), keys: () => [...headers.keys()] }));
    await t?.shutdown();
    const sdk = seen.filter((u) => /@opentelemetry\\/(sdk-trace|exporter-trace-otlp-http|resources|core|context-async-hooks)\\//.test(u));
    process.stdout.write(JSON.stringify({ started: t !== null, sdk, injected: [...headers.keys()] }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(env)], { timeout: 30_000 });
  return JSON.parse(stdout) as { started: boolean; sdk: string[]; injected: string[] };
}

describe('tracing off', () => {
  it('loads neither the SDK nor the exporter and carries no context when no endpoint is set; both once one is', async () => {
    const off = await probe({});
    expect(off).toEqual({ started: false, sdk: [], injected: [] });
    // The control: the same probe with an endpoint.
    await using receiver = await startOtlpReceiver();
    const on = await probe({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(on.started).toBe(true);
    expect(on.sdk.some((u) => u.includes('@opentelemetry/sdk-trace/'))).toBe(true);
    expect(on.sdk.some((u) => u.includes('@opentelemetry/exporter-trace-otlp-http/'))).toBe(true);
    expect(on.injected).toEqual(['traceparent']);
  }, 60_000);

  it('leaves the helpers inert in a process that does not trace', async () => {
    expect(tracing()).toBe(false);
    const c = carrier();
    await inSpan('nothing', {}, async () => injectTrace(c));
    expect(c.all.size).toBe(0);
    expect(traceparentOf()).toBeUndefined();
    expect(extractTrace(carrier({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }))).toBeUndefined();
  });
});

describe('tracing on', () => {
  it('carries the context through headers and a kept traceparent, and exports every span with its service name when it stops', async () => {
    await using receiver = await startOtlpReceiver();
    const { url, bodies } = receiver;
    const { log, lines } = logSink();
    const t = await startTracing({ config: loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '60000' }), service: 'nightshift-test', log });
    try {
      expect(t).not.toBeNull();
      expect(tracing()).toBe(true);
      const headers = carrier();
      let root = '';
      let kept: string | undefined;
      await inSpan('outer', { root: true }, async (span) => {
        root = span.spanContext().traceId;
        kept = traceparentOf();
        injectTrace(headers);
      });
      expect(headers.all.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(kept).toBe(headers.all.get('traceparent'));

      // The receiving side continues the same trace, under the span that sent the headers.
      const received = extractTrace(headers)!;
      expect(trace.getSpanContext(received)).toMatchObject({ traceId: root, isRemote: true });
      await expect(
        inSpan('inner', { parent: received }, async (span) => {
          expect(span.spanContext().traceId).toBe(root);
          throw Object.assign(new Error('the secret message'), { code: 'boom' });
        }),
      ).rejects.toThrow('the secret message');

      // A kept traceparent: spans of another trace go under the ticket's root; spans of its own stay where they are.
      const ticketRoot = contextOfTraceparent(kept)!;
      expect(trace.getSpanContext(ticketRoot)?.traceId).toBe(root);
      await inSpan('elsewhere', { root: true }, async () => {
        expect(trace.getSpanContext(parentIn(kept))?.traceId).toBe(root);
      });
      await inSpan('same trace', { parent: ticketRoot }, async (span) => {
        expect(trace.getSpanContext(parentIn(kept))?.spanId).toBe(span.spanContext().spanId);
      });
      expect(contextOfTraceparent(undefined)).toBeUndefined();
      expect(extractTrace(carrier({ traceparent: 'garbage' }))).toBeUndefined();
    } finally {
      await t?.shutdown();
    }
    expect(tracing()).toBe(false);
    const exported = bodies.join('\n');
    expect(exported).toContain('"nightshift-test"');
    for (const name of ['outer', 'inner', 'elsewhere', 'same trace']) expect(exported).toContain(`"name":"${name}"`);
    // A failed span says what kind of error, never its message.
    expect(exported).toContain('"boom"');
    expect(exported).not.toContain('the secret message');
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});
