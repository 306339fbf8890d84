import { expect, it } from 'vitest';
import { validateConfig } from '../functions/config/schema';
import config from '../limiter.config';
it('valid', () => { expect(validateConfig(config)).toEqual([]); });
