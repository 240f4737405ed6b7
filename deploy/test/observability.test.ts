import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { CloudSyncMetrics } from '../../cloud/sync/metrics.js';
import { buildTestCloud } from '../../cloud/test/helpers.js';

/**
 * The operations files (deploy/grafana/parkedge.json, deploy/prometheus/alerts.yml) parse, have the
 * shape Grafana and Prometheus need, and name only metrics the cloud exports: the names are taken
 * from /metrics of a built app (with the sync metrics the running cloud registers on the same
 * registry), so a renamed metric fails here rather than silently blanking a panel or an alert.
 */

const file = (p: string) => readFileSync(fileURLToPath(new URL(`../${p}`, import.meta.url)), 'utf8');

/** Metric names in a PromQL expression (every parkedge metric starts with `parkedge_`). */
const metricNames = (expr: string): string[] => [...expr.matchAll(/\bparkedge_[a-z0-9_]+/g)].map((m) => m[0]);

/** Balanced (), {} and [] outside quoted strings: a cheap guard against a broken expression. */
function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  let quote: string | null = null;
  for (const c of expr) {
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if ('({['.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0 && quote === null;
}

t.test('grafana dashboard and alert rules name only exported metrics', async (t) => {
  const cloud = await buildTestCloud();
  t.teardown(() => cloud.close());
  new CloudSyncMetrics(cloud.metrics.registry);
  const res = await cloud.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  const exported = new Set<string>();
  for (const m of res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    exported.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
  }
  t.ok(exported.has('parkedge_cloud_lot_online') && exported.has('parkedge_cloud_revenue_minor_total'));

  const rules = parseYaml(file('prometheus/alerts.yml')) as {
    groups: Array<{ name: string; rules: Array<Record<string, unknown>> }>;
  };
  const alerts = rules.groups.flatMap((g) => g.rules);
  const names = alerts.map((a) => a.alert as string);
  t.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const wanted of [
    'ParkedgeLotOffline',
    'ParkedgeLotOutboxGrowing',
    'ParkedgeNotificationsOutboxGrowing',
    'ParkedgeBitmapDrift',
    'ParkedgeHttp5xxRate',
    'ParkedgeNotificationFailures',
  ])
    t.ok(names.includes(wanted), `alert ${wanted}`);
  for (const a of alerts) {
    const expr = String(a.expr);
    t.ok(balanced(expr), `${a.alert}: expression is balanced`);
    t.match(
      a,
      { labels: { severity: /^(warning|critical)$/ }, annotations: { summary: String } },
      String(a.alert),
    );
    const used = metricNames(expr);
    t.ok(used.length > 0, `${a.alert} names a metric`);
    for (const m of used) t.ok(exported.has(m), `${a.alert}: ${m} is exported`);
  }

  const dash = JSON.parse(file('grafana/parkedge.json')) as {
    uid: string;
    title: string;
    panels: Array<{ id: number; title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ definition?: string }> };
  };
  t.match(dash, { uid: String, title: String });
  t.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length, 'panel ids are unique');
  const exprs = [
    ...dash.panels.flatMap((p) => p.targets.map((x) => ({ where: p.title, expr: x.expr }))),
    ...dash.templating.list
      .filter((v) => v.definition)
      .map((v) => ({ where: 'variable', expr: v.definition! })),
  ];
  for (const { where, expr } of exprs) {
    t.ok(balanced(expr), `${where}: expression is balanced`);
    for (const m of metricNames(expr)) t.ok(exported.has(m), `${where}: ${m} is exported`);
  }
});
