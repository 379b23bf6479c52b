// The npm package as a user gets it: `npm pack` of a copy of this working tree (what a clean clone
// holds: tracked and new files, nothing git ignores, so no lib/ left over from an old build), then
// `npm install <tarball>` into an empty folder, then the README's own install commands, the CLI's
// --version, and a consumer importing the library, run by node and type-checked by tsc.
// Dependencies come from the local npm cache where it has them (--prefer-offline).

import { execFile, type ExecFileOptions } from 'node:child_process';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTree, tempDir } from '../helpers/trees.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const readme = await readFile(path.join(root, 'README.md'), 'utf8');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const cleanup: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: without the npm_* variables `npm test` sets, which would
 * point the child npm at this project (npm_config_local_prefix) instead of its own folder.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== 'INIT_CWD'),
  );
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

function run(command: string, args: string[], options: ExecFileOptions & { cwd: string }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env: userEnv(), maxBuffer: 32 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The first fenced block of a language inside the README section under `heading`. */
function readmeBlock(heading: string, language: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading));
  if (!section) throw new Error(`README.md has no "## ${heading}" section`);
  const block = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(section);
  if (!block) throw new Error(`README.md "## ${heading}" has no \`\`\`${language} block`);
  return block[1]!;
}

/** A copy of the working tree as a clean clone has it, sharing this project's node_modules. */
async function cleanCopy(): Promise<string> {
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root });
  if (listed.code !== 0) throw new Error(`the package test needs a git checkout: ${listed.stderr}`);
  const copy = await tempDir('fbs-clone-');
  cleanup.push(copy);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(path.join(root, file))) continue; // deleted in the working tree, not yet committed
    await mkdir(path.dirname(path.join(copy, file)), { recursive: true });
    await cp(path.join(root, file), path.join(copy, file), { verbatimSymlinks: true });
  }
  await symlink(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
  return copy;
}

let packed: { filename: string; files: { path: string }[] };
let packOutput: Run;
let consumer: string;
let install: Run;

beforeAll(async () => {
  const copy = await cleanCopy();
  packOutput = await run('npm', ['pack', '--json', '--pack-destination', copy], { cwd: copy });
  if (packOutput.code !== 0) throw new Error(`npm pack failed:\n${packOutput.stderr}`);
  packed = (JSON.parse(packOutput.stdout) as (typeof packed)[])[0]!;

  consumer = await tempDir('fbs-consumer-');
  cleanup.push(consumer);
  await writeFile(
    path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  install = await run('npm', ['install', '--prefer-offline', path.join(copy, packed.filename)], { cwd: consumer });
  if (install.code !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`);
}, 120_000);

afterAll(async () => {
  await Promise.all(cleanup.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the npm tarball', () => {
  it('holds the CLI, the library with its types, the examples and the docs; no Action bundle, tests or sources', () => {
    const files = packed.files.map((f) => f.path).sort();
    expect(packed.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
    for (const file of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'bin/fastblocks-sync.js',
      'lib/sync.js',
      'lib/sync.d.ts',
      'lib/cli/index.js',
      'lib/core/plan.js',
      'examples/settings/storage.yml',
    ]) {
      expect(files, file).toContain(file);
    }
    const unexpected = files.filter((f) =>
      /^(dist|src|test|bench|scripts|\.github|\.ci|node_modules)\/|\.map$|^lib\/(action\/|main\.|index\.)|^action\.yml$|^tsconfig/.test(
        f,
      ),
    );
    expect(unexpected).toEqual([]);
    // Every file tsc emitted for the library is there: a d.ts the package lacks would break consumers.
    expect(files.filter((f) => f.startsWith('lib/') && f.endsWith('.js')).length).toBe(
      files.filter((f) => f.startsWith('lib/') && f.endsWith('.d.ts')).length,
    );
  });

  it('installs into an empty folder, with an engine warning only below Node 22', () => {
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 22)
      expect(install.stderr).toMatch(
        new RegExp(`EBADENGINE[\\s\\S]*package: '${pkg.name}@${pkg.version}'[\\s\\S]*required: \\{ node: '>=22' \\}`),
      );
    else expect(install.stderr).not.toContain('EBADENGINE');
    expect(existsSync(path.join(consumer, 'node_modules', '.bin', 'fastblocks-sync'))).toBe(true);
    // The Action's own dependencies are compiled into dist/, never installed from npm.
    for (const dependency of ['@actions/core', '@octokit/request', '@azure/storage-blob']) {
      expect(existsSync(path.join(consumer, 'node_modules', dependency)), dependency).toBe(false);
    }
  });

  it('`npx fastblocks-sync --version` prints the package version', async () => {
    const result = await run('npx', ['fastblocks-sync', '--version'], { cwd: consumer });
    expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('runs the README install quick start against a file:// bucket; a second run writes nothing', async () => {
    const [installLine, ...commands] = readmeBlock('Install', 'sh').trim().split('\n');
    expect(installLine).toBe(`npm install ${pkg.name}`); // done above, from the tarball
    const script = commands.join('\n');
    const first = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: consumer });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/== templates ==[\s\S]*upload \(create\) {2}app\/bulma\/index\.html/);
    expect(first.stdout).toMatch(/== static ==[\s\S]*upload \(create\) {2}css\/app\.css/);

    // Where FastBlocks reads it: examples/settings/storage.yml maps templates to their own bucket.
    const bucket = await readTree(path.join(consumer, 'bucket'));
    const template = 'example-app-templates/example-app/templates/app/bulma/index.html';
    expect(bucket[template], Object.keys(bucket).join('\n')).toBe(
      await readFile(path.join(root, 'examples/templates/app/bulma/index.html'), 'utf8'),
    );

    const second = await run('bash', ['-euo', 'pipefail', '-c', commands.at(-1)!], { cwd: consumer });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toMatch(/^ {2}(upload|download|delete)/m);
  });

  it(
    "`import { sync } from 'fastblocks-sync'` runs in node and type-checks with the " +
      'shipped types; misuse does not',
    async () => {
      // The README's consumer is valid JavaScript and TypeScript: run it, then check it.
      const consumerCode = readmeBlock('Install', 'ts');
      expect(consumerCode).toMatch(/^import \{ sync \} from 'fastblocks-sync';\n/);
      await writeFile(path.join(consumer, 'consumer.mjs'), consumerCode);
      await writeFile(path.join(consumer, 'consumer.ts'), consumerCode);
      await writeFile(
        path.join(consumer, 'misuse.ts'),
        "import { sync } from 'fastblocks-sync';\nconst n: number = await sync.templates({ appRot: 'my-app' });\n",
      );
      await writeFile(
        path.join(consumer, 'my-app/templates/app/bulma/about.html'),
        '<p>edited by the library consumer</p>\n',
      );

      const ran = await run(process.execPath, ['consumer.mjs'], { cwd: consumer });
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout.trim()).toBe("[ 'app/bulma/about.html' ] false");

      // A consumer's tsconfig: strict, NodeNext, checking the package's .d.ts files too.
      const tsconfig = {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
        },
        files: ['consumer.ts', 'misuse.ts'],
      };
      await writeFile(path.join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig));
      const checked = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: consumer });
      const errors = checked.stdout.trim().split('\n');
      expect(errors.filter((line) => !line.startsWith('misuse.ts('))).toEqual([]);
      expect(
        errors.some((line) =>
          /misuse\.ts\(2,7\): error TS2322: Type 'TemplatesResult' is not assignable to type 'number'/.test(line),
        ),
      ).toBe(true);
      expect(
        errors.some((line) =>
          /misuse\.ts\(2,\d+\): error TS2561: .*'appRot' does not exist in type 'TemplatesOptions'/.test(line),
        ),
      ).toBe(true);
    },
  );

  it(
    'a script written to the seed\'s contract stops on "Manual conflict resolution ' +
      'required" instead of carrying on',
    async () => {
      // The same template edited on both sides since the runs above.
      const template = 'example-app-templates/example-app/templates/app/bulma/index.html';
      await writeFile(path.join(consumer, 'my-app/templates/app/bulma/index.html'), '<p>mine</p>\n');
      await writeFile(path.join(consumer, 'bucket', template), '<p>theirs</p>\n');
      // The seed documented `except ValueError as e: if "Manual conflict resolution required" in str(e)`.
      const script = [
        "import { sync } from 'fastblocks-sync';",
        'try {',
        "  await sync.templates({ appRoot: 'my-app', storageBucket: " +
          "`file://${process.cwd()}/bucket`, strategy: { conflictStrategy: 'manual' } });",
        "  console.log('synced');",
        '} catch (e) {',
        "  if (!String(e.message).includes('Manual conflict resolution required')) throw e;",
        "  console.log('stopped', e.name, e.result.conflicts.map((c) => `${c.path} ${c.resolution}`).join(','));",
        '}',
      ].join('\n');
      await writeFile(path.join(consumer, 'seed-contract.mjs'), script);
      const ran = await run(process.execPath, ['seed-contract.mjs'], { cwd: consumer });
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout.trim()).toBe('stopped ManualConflictError app/bulma/index.html manual');
      expect(await readFile(path.join(consumer, 'bucket', template), 'utf8')).toBe('<p>theirs</p>\n');
    },
  );
});
