// Runs the committed dist/index.js the way the Actions runner does: a child process with INPUT_*
// variables (the runner's name mangling), an event JSON in GITHUB_EVENT_PATH, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files, RUNNER_TEMP, and a GitHub API URL.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/trees.js';

export const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** `::error…` / `::warning…` workflow commands from stdout. */
  annotations: string[];
}

export interface ActionRunOptions {
  /** Input names as in action.yml (kebab-case); the runner's mangling is applied here. */
  inputs: Record<string, string>;
  eventName: string;
  event: Record<string, unknown>;
  workspace: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Given the runner's child process as soon as it starts (crash tests kill it). */
  onSpawn?: (child: ChildProcess) => void;
}

/** `conflict-strategy` → `INPUT_CONFLICT-STRATEGY`: upper-case, spaces to '_', dashes kept (as the runner does). */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

export async function runAction(options: ActionRunOptions): Promise<ActionRun> {
  // RUNNER_TEMP too: tests read the report files the run left there; removed after the test file.
  const dir = await tempDir('fbs-action-run-');
  const files = { event: join(dir, 'event.json'), output: join(dir, 'output'), summary: join(dir, 'summary.md') };
  await writeFile(files.event, JSON.stringify(options.event));
  await writeFile(files.output, '');
  await writeFile(files.summary, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: options.eventName,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_WORKSPACE: options.workspace,
    RUNNER_TEMP: dir,
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.test',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...options.env,
  };
  for (const [name, value] of Object.entries(options.inputs)) env[inputVariable(name)] = value;

  const child = spawn(process.execPath, [DIST], { cwd: options.workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
  options.onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 45_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return {
    code,
    stdout,
    stderr,
    outputs: parseOutputs(await readFile(files.output, 'utf8')),
    summary: await readFile(files.summary, 'utf8'),
    annotations: stdout.split('\n').filter((l) => /^::(error|warning|notice)/.test(l)),
  };
}

/** GITHUB_OUTPUT in @actions/core's heredoc format: `name<<delimiter\nvalue\ndelimiter`. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const pattern = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n?\2$/gm;
  for (const match of text.matchAll(pattern)) outputs[match[1]!] = match[3]!;
  return outputs;
}
