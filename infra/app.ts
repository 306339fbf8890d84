/**
 * The CDK app's entry point (`cdk.json`: `npx tsx infra/app.ts`). It loads
 * the config, validates it before building anything and, when it is invalid,
 * lists every problem and exits non-zero, so `cdk synth` and `cdk deploy`
 * stop before touching an account. Loading and the problem list are the ones
 * `npm start` and `npm run build` use (local/config-file.ts).
 *
 * The config is `limiter.config.ts` unless `LIMITER_CONFIG` (or the context
 * value `config`, `cdk synth -c config=prod.config.ts`) names another file:
 * a module exporting the config as `config` or `default`, or JSON.
 */

import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { InvalidConfigError } from '../functions/config/schema';
import {
  ConfigFileError,
  checkConfig,
  configErrorText,
  loadConfigFile,
} from '../local/config-file';
import { REPO_ROOT } from '../scripts/build-functions';
import { buildLimiterApp } from './limiter-app';

const app = new App();
const configFile =
  (app.node.tryGetContext('config') as string | undefined) ??
  process.env.LIMITER_CONFIG ??
  resolve(REPO_ROOT, 'limiter.config.ts');
try {
  const config = checkConfig(await loadConfigFile(configFile), configFile);
  try {
    buildLimiterApp(config, { app });
  } catch (error) {
    // App-wide checks (alarm names unique per region) report like the config's own.
    if (!(error instanceof InvalidConfigError)) throw error;
    const count = error.problems.length;
    throw new ConfigFileError(
      configFile,
      `is invalid (${count} problem${count === 1 ? '' : 's'})`,
      error.problems,
    );
  }
} catch (error) {
  process.stderr.write(configErrorText(error));
  process.exit(1);
}
app.synth();
