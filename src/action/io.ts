// What the Action does to the runner (log, annotate, outputs, summary, fail), behind one
// interface so main.ts can be run in-process by tests; the default is @actions/core.

import * as core from '@actions/core';
import { logSafe } from './secrets.js';

export interface Annotation {
  title?: string;
  file?: string;
  startLine?: number;
  startColumn?: number;
}

export interface ActionIO {
  getInput: (name: string) => string;
  setOutput: (name: string, value: string) => void;
  setSecret: (value: string) => void;
  /** The only way the Action fails a job; main.ts calls it in exactly one place. */
  setFailed: (message: string) => void;
  debug: (message: string) => void;
  info: (message: string) => void;
  notice: (message: string, annotation?: Annotation) => void;
  warning: (message: string, annotation?: Annotation) => void;
  error: (message: string, annotation?: Annotation) => void;
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Appends Markdown to the job summary (no-op outside Actions). */
  writeSummary: (markdown: string) => Promise<void>;
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

/**
 * The runner IO with every text scrubbed of secrets and made log-safe (secrets.ts): the one way
 * the Action writes to the log, the summary and the job's failure message.
 */
export function safeIO(io: ActionIO, scrub: (text: string) => string): ActionIO {
  const line = (text: string) => logSafe(scrub(text));
  const note = (annotation?: Annotation) =>
    annotation ? { ...annotation, ...(annotation.title ? { title: line(annotation.title) } : {}) } : undefined;
  return {
    getInput: (name) => io.getInput(name),
    setOutput: (name, value) => io.setOutput(name, scrub(value)),
    setSecret: (value) => io.setSecret(value),
    setFailed: (message) => io.setFailed(line(message)),
    debug: (message) => io.debug(line(message)),
    info: (message) => io.info(line(message)),
    notice: (message, annotation) => io.notice(line(message), note(annotation)),
    warning: (message, annotation) => io.warning(line(message), note(annotation)),
    error: (message, annotation) => io.error(line(message), note(annotation)),
    group: (name, fn) => io.group(line(name), fn),
    writeSummary: (markdown) => io.writeSummary(scrub(markdown)),
  };
}
