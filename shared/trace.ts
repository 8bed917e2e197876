import { randomUUID } from 'node:crypto';
import {
  context,
  diag,
  DiagLogLevel,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type DiagLogger,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { redactUrl } from './redact.ts';

/**
 * OpenTelemetry traces. A ticket is one trace, across processes and across time: the coordinator's
 * intake span is its root, whose W3C `traceparent` is kept on the ticket record; every work item and
 * ticket event carries the context of the span that sent it in its NATS headers (bus/trace.ts), and
 * each process continues it: `dispatch <stage>` and `apply <event>` spans in the coordinator,
 * `stage <role>` in an agent, with `chat <model>`, `execute_tool <name>`, `sandbox run` and
 * `open pull request` spans under it.
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then
 * `startTracing` loads the SDK and the OTLP/HTTP exporter (a dynamic import, never made otherwise)
 * and registers them; until then every span is the API's no-op one. Span attributes never hold a
 * prompt, a file's content, a command's output or a secret: names, ids, counts and outcomes only.
 */

/** The tracer of every nightshift span: the API's no-op one until `startTracing` registers a provider. */
export const tracer = trace.getTracer('nightshift');

export { SpanKind, SpanStatusCode };
export type { Attributes as SpanAttributes, Context as TraceContext, Span };

let active = false;

/** Whether this process exports traces (`startTracing` ran and found an endpoint). */
export function tracing(): boolean {
  return active;
}

/**
 * Where this process's spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or
 * OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces` appended (as the OTLP specification says); null when
 * tracing is off (neither set, OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none).
 */
export function traceExportUrl(
  config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_SDK_DISABLED' | 'OTEL_TRACES_EXPORTER'>,
): string | null {
  if (config.OTEL_SDK_DISABLED || config.OTEL_TRACES_EXPORTER === 'none') return null;
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.endsWith('/') ? base : `${base}/`}v1/traces` : null;
}

/** A process's running trace export. */
export interface Tracing {
  readonly url: string;
  readonly service: string;
  /** Exports what is left (bounded by `SHUTDOWN_MS`) and unregisters the provider. */
  shutdown(): Promise<void>;
}

/** Bound on the last export at shutdown: a collector that does not answer must not hold the process. */
const SHUTDOWN_MS = 5_000;

/**
 * Starts exporting this process's spans when the configuration names an endpoint, as `service`
 * (`nightshift-coordinator`, `nightshift-agent-<role>`; OTEL_SERVICE_NAME overrides it); returns null,
 * having loaded nothing, when it does not. Export failures are logged as warnings, never thrown.
 */
export async function startTracing({ config, service, log }: { config: Config; service: string; log: Logger }): Promise<Tracing | null> {
  const url = traceExportUrl(config);
  if (!url) return null;
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, { W3CTraceContextPropagator }, { AsyncLocalStorageContextManager }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/core'),
      import('@opentelemetry/context-async-hooks'),
    ]);
  const name = config.OTEL_SERVICE_NAME ?? service;
  diag.setLogger(diagLogger(log), DiagLogLevel.WARN);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': name, 'service.namespace': 'nightshift', 'service.instance.id': randomUUID() }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  active = true;
  log.info({ url: redactUrl(url), service: name }, 'exporting traces over OTLP');
  let closed: Promise<void> | undefined;
  return {
    url,
    service: name,
    shutdown: () =>
      (closed ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SHUTDOWN_MS)));
        try {
          const end = await Promise.race([provider.shutdown().then(() => 'done' as const), late]);
          if (end === 'late') log.warn({ url: redactUrl(url) }, `the last spans were not exported within ${SHUTDOWN_MS} ms`);
        } catch (err) {
          log.warn({ err }, 'could not export the last spans');
        } finally {
          clearTimeout(timer);
          active = false;
          trace.disable();
          propagation.disable();
          context.disable();
          diag.disable();
        }
      })()),
  };
}

/** Runs a process's body with its traces exported when configured, and the last spans flushed when it ends. */
export async function withTracing<T>(config: Config, log: Logger, service: string, body: () => Promise<T>): Promise<T> {
  const t = await startTracing({ config, service, log });
  try {
    return await body();
  } finally {
    await t?.shutdown();
  }
}

/** The SDK's own complaints (an export that failed), as warnings; never its arguments but an error. */
function diagLogger(log: Logger): DiagLogger {
  const warn = (message: string, ...args: unknown[]) => {
    const err = args.find((a) => a instanceof Error);
    log.warn(err ? { err } : {}, `opentelemetry: ${message}`);
  };
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The context to continue; the active one unless given. */
  parent?: Context | undefined;
  /** Starts a new trace, whatever the active context. */
  root?: boolean;
}

/**
 * Runs `fn` in a new span, active for everything `fn` does (its model calls, sandbox runs…), and ends
 * it. A throw marks the span as an error with `error.type` (the error's code or class), never its
 * message, which may quote a model or a repository.
 */
export async function inSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes && { attributes: opts.attributes }), ...(opts.root && { root: true }) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    markError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks `span` as failed by `err`: its code or class as `error.type`, never its message. */
export function markError(span: Span, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  span.setAttribute('error.type', typeof code === 'string' ? code : err instanceof Error ? err.name : 'error');
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Message headers as trace context travels in them: NATS's `MsgHdrs` is one. */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
  keys(): string[];
}

const headerSetter: TextMapSetter<HeaderCarrier> = { set: (carrier, key, value) => carrier.set(key, value) };
const headerGetter: TextMapGetter<HeaderCarrier> = { get: (carrier, key) => carrier.get(key) || undefined, keys: (carrier) => carrier.keys() };

/** Writes the trace context of `ctx` (the active one by default) into `carrier`; nothing when not tracing. */
export function injectTrace(carrier: HeaderCarrier, ctx: Context = context.active()): void {
  propagation.inject(ctx, carrier, headerSetter);
}

/** The trace context `carrier` holds, or undefined when it holds none that is valid (or tracing is off). */
export function extractTrace(carrier: HeaderCarrier | undefined): Context | undefined {
  if (!carrier) return undefined;
  return valid(propagation.extract(ROOT_CONTEXT, carrier, headerGetter));
}

/**
 * The W3C traceparent of the span active in `ctx`: what a record (a ticket) keeps so that work done
 * on it later, in any process, joins its trace. Undefined when not tracing.
 */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  // The key is the W3C propagator's own name for the value, in a plain record (not a bus header).
  const record: { traceparent?: string } = {};
  propagation.inject(ctx, record);
  return record.traceparent;
}

/** The context of a kept traceparent, to continue its trace; undefined when there is none (or tracing is off). */
export function contextOfTraceparent(traceparent: string | undefined): Context | undefined {
  if (!traceparent) return undefined;
  return valid(propagation.extract(ROOT_CONTEXT, { traceparent }));
}

/**
 * Where a span about a record whose trace is `traceparent` goes: under `ctx` (the active context by
 * default) when its span is of that trace, else under the record's own root; `ctx` when the record has
 * no trace.
 */
export function parentIn(traceparent: string | undefined, ctx: Context = context.active()): Context {
  const root = contextOfTraceparent(traceparent);
  if (!root) return ctx;
  const here = trace.getSpanContext(ctx);
  return here && isSpanContextValid(here) && here.traceId === trace.getSpanContext(root)!.traceId ? ctx : root;
}

function valid(ctx: Context): Context | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc && isSpanContextValid(sc) ? ctx : undefined;
}
