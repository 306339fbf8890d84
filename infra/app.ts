/**
 * The CDK app's entry point (`cdk.json`: `npx tsx infra/app.ts`). It loads
 * the config, validates it before building anything and, when it is invalid,
 * lists every problem and exits non-zero, so `cdk synth` and `cdk deploy`
 * stop before touching an account.
 *
 * The config is `limiter.config.ts` unless `LIMITER_CONFIG` (or the context
 * value `config`, `cdk synth -c config=prod.config.ts`) names another module
 * exporting the config as `default` or `config`.
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import {
  type ConfigProblem,
  InvalidConfigError,
  type LimiterConfig,
  validateConfig,
} from '../functions/config/schema';
import { REPO_ROOT } from '../scripts/build-functions';
import { buildLimiterApp } from './limiter-app';

const app = new App();
const configFile = resolve(
  (app.node.tryGetContext('config') as string | undefined) ??
    process.env.LIMITER_CONFIG ??
    resolve(REPO_ROOT, 'limiter.config.ts'),
);
const loaded = (await import(pathToFileURL(configFile).href)) as {
  default?: LimiterConfig;
  config?: LimiterConfig;
};
const config = loaded.default ?? loaded.config;
if (config === undefined) {
  console.error(
    `${configFile} exports no config (expected "export default" or "export const config")`,
  );
  process.exit(1);
}
function refuse(problems: readonly ConfigProblem[]): never {
  console.error(
    `Invalid limiter config ${configFile} (${problems.length} problem${problems.length === 1 ? '' : 's'}):`,
  );
  for (const p of problems) console.error(`  - ${p.path}: ${p.message}`);
  process.exit(1);
}
const problems = validateConfig(config);
if (problems.length > 0) refuse(problems);
try {
  buildLimiterApp(config, { app });
} catch (error) {
  // App-wide checks (alarm names unique per region) report like the config's own.
  if (error instanceof InvalidConfigError) refuse(error.problems);
  throw error;
}
app.synth();
