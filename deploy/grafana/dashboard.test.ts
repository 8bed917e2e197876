import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMetrics } from '../../shared/metrics.ts';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

const Target = z.object({ refId: z.string(), expr: z.string().min(1), legendFormat: z.string(), datasource: z.object({ type: z.literal('prometheus'), uid: z.string() }) });
const Panel = z.object({
  id: z.number().int().positive(),
  type: z.string(),
  title: z.string().min(1),
  gridPos: z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0) }),
  targets: z.array(Target).optional(),
  datasource: z.object({ type: z.string(), uid: z.string() }).optional(),
});
const Dashboard = z.object({
  uid: z.string().min(1),
  title: z.string().min(1),
  schemaVersion: z.number().int(),
  templating: z.object({ list: z.array(z.object({ name: z.string(), type: z.string(), query: z.string().optional() })) }),
  panels: z.array(Panel).min(1),
});

const dashboard = Dashboard.parse(JSON.parse(readFileSync(new URL('./nightshift.json', import.meta.url), 'utf8')));

/** The metric names a PromQL expression reads (histogram series by their histogram's name). */
function metricsOf(expr: string): string[] {
  // Label matchers and grouping clauses name labels (process_kind), not metrics.
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/\b(?:by|without)\s*\([^)]*\)/g, '');
  const names = bare.match(/\b(?:nightshift|process|nodejs)_[a-z0-9_]+/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|count|sum)$/, ''));
}

/** Every metric name the code registers: nightshift's figures and the standard process metrics. */
function registered(): Set<string> {
  const m = createMetrics(new Registry());
  for (const make of Object.values(m)) if (typeof make === 'function') make();
  collectDefaultMetrics({ register: m.registry });
  return new Set(m.registry.getMetricsAsArray().map((x) => x.name));
}

describe('the Grafana dashboard (deploy/grafana/nightshift.json)', () => {
  it('is dashboard JSON with a Prometheus datasource variable every query panel uses, unique panel ids and no overlapping panels', () => {
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `${p.title} overlaps another panel at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual(DATASOURCE);
    }
  });

  it('queries only metrics the code registers, and every nightshift figure has a panel', () => {
    const known = registered();
    const queried = new Set<string>();
    for (const p of dashboard.panels) {
      for (const t of p.targets ?? []) {
        const names = metricsOf(t.expr);
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) {
          expect(known.has(n), `${p.title} queries ${n}, which the code does not register`).toBe(true);
          queried.add(n);
        }
      }
    }
    const figures = [...known].filter((n) => n.startsWith('nightshift_'));
    expect(figures.length).toBeGreaterThanOrEqual(10);
    for (const n of figures) expect(queried.has(n), `no panel shows ${n}`).toBe(true);
  });
});
