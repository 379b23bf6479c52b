// What the Action does to the runner (log, annotate, outputs, summary, fail), behind one
// interface so main.ts can be run in-process by tests; the default is @actions/core.

import * as core from '@actions/core';

export interface Annotation {
  title?: string;
  file?: string;
  startLine?: number;
  startColumn?: number;
}

export interface ActionIO {
  getInput(name: string): string;
  setOutput(name: string, value: string): void;
  setSecret(value: string): void;
  /** The only way the Action fails a job; main.ts calls it in exactly one place. */
  setFailed(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  notice(message: string, annotation?: Annotation): void;
  warning(message: string, annotation?: Annotation): void;
  error(message: string, annotation?: Annotation): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Appends Markdown to the job summary (no-op outside Actions). */
  writeSummary(markdown: string): Promise<void>;
}

export const coreIO: ActionIO = {
  getInput: (name) => core.getInput(name),
  setOutput: (name, value) => core.setOutput(name, value),
  setSecret: (value) => core.setSecret(value),
  setFailed: (message) => core.setFailed(message),
  debug: (message) => core.debug(message),
  info: (message) => core.info(message),
  notice: (message, annotation) => core.notice(message, annotation),
  warning: (message, annotation) => core.warning(message, annotation),
  error: (message, annotation) => core.error(message, annotation),
  group: (name, fn) => core.group(name, fn),
  writeSummary: async (markdown) => {
    if (!process.env.GITHUB_STEP_SUMMARY) {
      core.debug('GITHUB_STEP_SUMMARY is not set: no job summary written.');
      return;
    }
    await core.summary.addRaw(markdown).write();
  },
};
