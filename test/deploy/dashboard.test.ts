import { readFileSync } from 'node:fs';
import {
  createWorkerMetrics,
  registerAuditDrift,
  registerHttpMetrics,
  registerQueueDepth,
} from '@sluice/core/process';
import { describe, expect, it } from 'vitest';
import { repoPath } from './support/repo.js';

/*
 * The Grafana dashboard may only chart series Sluice exports: every metric name in its queries
 * must be one the API or a worker registers (Node's default metrics included), so that a renamed
 * metric fails here rather than as an empty panel.
 */

const DASHBOARD = 'deploy/k8s/monitoring/sluice-dashboard.json';

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of the dashboard, with the title of its panel. */
function queries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(repoPath(DASHBOARD), 'utf8')) as { panels: Panel[] };
  const walk = (panels: readonly Panel[]): { panel: string; expr: string }[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr ? [{ panel: p.title ?? '?', expr: t.expr }] : [])),
      ...walk(p.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

/** The series names the processes export: each metric, and a histogram's `_bucket`, `_sum`, `_count`. */
function exportedSeries(): Set<string> {
  const { registry } = createWorkerMetrics('test');
  registerQueueDepth(registry, []);
  registerHttpMetrics(registry);
  registerAuditDrift(registry);
  const names = new Set<string>();
  for (const { name, type } of registry.getMetricsAsArray()) {
    names.add(name);
    if (String(type) === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** Names in a PromQL expression that look like metrics (not functions, labels or keywords). */
function metricNames(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
  const withoutGroupings = withoutLabels.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
    '',
  );
  return [...withoutGroupings.matchAll(/\b(sluice_\w+|process_\w+|nodejs_\w+)\b/g)].map((m) => m[1]!);
}

describe('the Grafana dashboard', () => {
  it('charts queue depth, job rates, failures, drain and audit drift', () => {
    const all = queries()
      .map((q) => q.expr)
      .join('\n');
    for (const series of [
      'sluice_queue_jobs',
      'sluice_jobs_completed_total',
      'sluice_job_attempts_failed_total',
      'sluice_jobs_handed_back_total',
      'sluice_audit_drift',
      'sluice_build_info',
    ]) {
      expect(all, series).toContain(series);
    }
  });

  it('queries only series the API and the workers export', () => {
    const exported = exportedSeries();
    const unknown = queries().flatMap(({ panel, expr }) =>
      metricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('is caught out by a renamed metric (the check can fail)', () => {
    const exported = exportedSeries();
    expect(metricNames('sum(rate(sluice_jobs_failed_total{namespace="x"}[5m]))')).toEqual([
      'sluice_jobs_failed_total',
    ]);
    expect(exported.has('sluice_jobs_failed_total')).toBe(false);
  });
});
