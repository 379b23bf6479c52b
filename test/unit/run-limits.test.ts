// One rule for the numbers a run takes: the CLI, the Action and the library accept exactly the same
// values (RUN_LIMITS), each naming the value its own way (--timeout, Input 'timeout', strategy.timeout).

import { describe, expect, it } from 'vitest';
import { readInputs, type InputName } from '../../src/action/inputs.js';
import { main, type CliIo } from '../../src/cli/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { resolveStrategy, RUN_LIMITS, validateStrategy, DEFAULT_STRATEGY } from '../../src/core/model.js';
import { runSync } from '../../src/core/engine.js';
import { createFsStore } from '../../src/stores/fs.js';
import { InputError } from '../../src/errors.js';
import { sync } from '../../src/sync.js';
import { tempDir } from '../helpers/trees.js';

const FIELDS = [
  ['maxConcurrent', '--max-concurrent', 'max-concurrent'],
  ['timeout', '--timeout', 'timeout'],
  ['retryAttempts', '--retry-attempts', 'retry-attempts'],
  ['retryDelay', '--retry-delay', 'retry-delay'],
] as const;

/** Values on both sides of each edge of a limit, and a fraction where only integers are allowed. */
function probes(limit: { min: number; max: number; integer: boolean }): [number, boolean][] {
  const step = limit.integer ? 1 : 0.001;
  return [
    [limit.min - step, false],
    [limit.min, true],
    [limit.max, true],
    [limit.max + step, false],
    ...(limit.integer ? ([[limit.min + 0.5, false]] as [number, boolean][]) : []),
  ];
}

async function cliAccepts(flag: string, value: number): Promise<{ accepted: boolean; stderr: string }> {
  const local = await tempDir();
  const bucket = await tempDir('fbsync-bucket-');
  let stderr = '';
  const io: CliIo = { stdout: () => undefined, stderr: (t) => void (stderr += t), isTTY: false };
  const code = await main(
    ['node', 'fastblocks-sync', 'sync', local, `file://${bucket}`, '--dry-run', flag, String(value)],
    io,
  );
  return { accepted: code !== 2, stderr };
}

function actionAccepts(input: InputName, value: number): boolean {
  try {
    readInputs((name) => (name === 'bucket' ? 'my-bucket' : name === input ? String(value) : ''));
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).input).toBe(input);
    return false;
  }
}

function libraryAccepts(field: (typeof FIELDS)[number][0], value: number): boolean {
  try {
    resolveStrategy({ [field]: value });
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`strategy.${field} must be`);
    return false;
  }
}

describe('RUN_LIMITS: the CLI, the Action and the library accept the same numbers', () => {
  for (const [field, flag, input] of FIELDS) {
    it.each(probes(RUN_LIMITS[field]))(`${field} = %s → accepted: %s`, async (value, accepted) => {
      expect(libraryAccepts(field, value)).toBe(accepted);
      expect(actionAccepts(input, value)).toBe(accepted);
      const cli = await cliAccepts(flag, value);
      expect(cli.accepted).toBe(accepted);
      if (!accepted) expect(cli.stderr).toContain(`${flag} must be`);
    });
  }

  it('lock-wait: the CLI, the Action and the engine', async () => {
    for (const [value, accepted] of probes(RUN_LIMITS.lockWait)) {
      expect(actionAccepts('lock-wait', value)).toBe(accepted);
      expect((await cliAccepts('--lock-wait', value)).accepted).toBe(accepted);
    }
  });
});

describe('the library checks what the CLI and the Action parse', () => {
  it(
    'a strategy field of the wrong type or out of range is a ConfigError naming the field, ' +
      'the value and the range',
    () => {
      expect(() => resolveStrategy({ timeout: 0 })).toThrow(
        'strategy.timeout must be a number from 0.1 to 3600, got 0',
      );
      expect(() => resolveStrategy({ direction: 'sideways' as never })).toThrow(
        'strategy.direction must be one of pull, push, bidirectional, got "sideways"',
      );
      expect(() => resolveStrategy({ dryRun: 'yes' as never })).toThrow(
        'strategy.dryRun must be true or false, got "yes"',
      );
      expect(() => validateStrategy({ ...DEFAULT_STRATEGY, maxConcurrent: Number.NaN })).toThrow(
        /strategy\.maxConcurrent must be a whole number from 1 to 256/,
      );
    },
  );

  it('runSync refuses a hand-made strategy or lock time out of range before it touches anything', async () => {
    const local = await tempDir();
    const bucket = await tempDir('fbsync-bucket-');
    const store = createFsStore(bucket);
    await expect(
      runSync({ localRoot: local, store, rootPrefix: '', strategy: { ...DEFAULT_STRATEGY, maxConcurrent: 0 } }),
    ).rejects.toThrow(/strategy\.maxConcurrent must be/);
    await expect(
      runSync({ localRoot: local, store, rootPrefix: '', strategy: DEFAULT_STRATEGY, lockTtl: 1 }),
    ).rejects.toThrow('lockTtl must be a number from 2 to 86400, got 1');
    expect(store.stats).toEqual({ list: 0, get: 0, head: 0, put: 0, copy: 0, delete: 0 });
  });

  it('sync.* rejects a bad strategy before planning anything', async () => {
    const appRoot = await tempDir();
    const bucket = await tempDir('fbsync-bucket-');
    await expect(
      sync.templates({ appRoot, storageBucket: `file://${bucket}`, strategy: { retryAttempts: 99 } }),
    ).rejects.toThrow('strategy.retryAttempts must be a whole number from 0 to 20, got 99');
  });
});
