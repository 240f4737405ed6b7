import { Command } from 'commander';
import { INSTANCE_ID_POLICIES, type InstanceIdPolicy } from './instance-id.js';
import { runSimulation, type SimResult } from './world.js';

/**
 * `npm run sim -- --seeds N [--seed S] [--steps K] [--lots L] [--instance-ids config|pid|stable]`
 * Runs N seeds from S (default: a random start) and prints, for a failing seed, the one command that
 * replays it exactly.
 */
const program = new Command()
  .option('--seeds <n>', 'number of seeds', '1')
  .option('--seed <s>', 'first seed (default: random)')
  .option('--steps <k>', 'steps per seed', '60')
  .option('--lots <l>', 'lots per seed', '2')
  .option('--instance-ids <policy>', `cloud instance id policy: ${INSTANCE_ID_POLICIES.join(', ')}`, 'config')
  .option('--verbose', 'one line per seed')
  .parse();

const o = program.opts<{
  seeds: string;
  seed?: string;
  steps: string;
  lots: string;
  instanceIds: string;
  verbose?: boolean;
}>();
const policy = o.instanceIds as InstanceIdPolicy;
if (!INSTANCE_ID_POLICIES.includes(policy)) throw new Error(`unknown --instance-ids ${o.instanceIds}`);
const seeds = Number(o.seeds);
const steps = Number(o.steps);
const lots = Number(o.lots);
const first = o.seed !== undefined ? Number(o.seed) : Math.floor(Math.random() * 2 ** 31);

const faults: Record<string, number> = {};
let failed = 0;
const started = performance.now();
for (let i = 0; i < seeds; i++) {
  const seed = (first + i) >>> 0;
  let r: SimResult;
  try {
    r = await runSimulation({ seed, steps, lots, instanceIds: policy });
  } catch (error) {
    failed++;
    console.log(`seed ${seed} CRASHED: ${(error as Error).stack}`);
    console.log(
      `  replay: npm run sim -- --seed ${seed} --steps ${steps} --lots ${lots} --instance-ids ${policy}`,
    );
    continue;
  }
  for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  if (o.verbose)
    console.log(
      `seed ${seed} hash ${r.hash} violations ${r.violations.length} sim ${Math.round(r.simulatedMs / 1000)} s`,
    );
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed} FAILED (trace hash ${r.hash}):`);
    for (const v of r.violations) console.log(`  ${v.invariant}: ${v.detail}`);
    console.log(
      `  replay: npm run sim -- --seed ${seed} --steps ${steps} --lots ${lots} --instance-ids ${policy}`,
    );
  }
}
const ms = performance.now() - started;
console.log(
  `${seeds} seeds × ${steps} steps (${lots} lots, instance ids: ${policy}): ${failed} failing; ` +
    `${(ms / seeds).toFixed(0)} ms per seed; faults ${JSON.stringify(faults)}`,
);
process.exit(failed > 0 ? 1 : 0);
