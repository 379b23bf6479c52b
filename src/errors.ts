// One way to turn anything thrown into a message, and the errors the Action and the library fail
// with. A failure's reason (FAILURE_REASONS) is carried by the error, so nothing decides it twice.

import type { FailureReason } from './core/model.js';

/**
 * The reasons the Action's `failure-reason` output reports (action.yml, README): the engine's
 * vocabulary (FAILURE_REASONS in core/model.ts) with a refusal and a run not applied as `error`.
 */
export const ACTION_FAILURE_REASONS = [
  'manual-conflicts',
  'plan-changed',
  'locked',
  'validation',
  'error',
] as const satisfies readonly FailureReason[];
export type ActionFailureReason = (typeof ACTION_FAILURE_REASONS)[number];

/** A failure as the Action reports it: its `failure-reason` and the message the job fails with. */
export interface ActionFailure {
  reason: ActionFailureReason;
  message: string;
}

/** The message of anything thrown: an Error's message, a string, or a JSON rendering. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const message = error.message || error.name;
    // AggregateError (e.g. from Promise.any or the SDK's connection attempts) hides the useful part.
    if (error instanceof AggregateError && error.errors.length > 0) {
      return `${message}${message ? ': ' : ''}${error.errors.map(errorMessage).join('; ')}`;
    }
    return message;
  }
  if (typeof error === 'string') return error;
  if (typeof error !== 'object' || error === null) return String(error);
  try {
    return JSON.stringify(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** A failure with a known reason (the Action's `failure-reason`). */
export class ActionError extends Error {
  readonly reason: FailureReason;
  constructor(reason: FailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActionError';
    this.reason = reason;
  }
}

/** A bad input: names the input, the value and what is accepted. */
export class InputError extends ActionError {
  readonly input: string;
  constructor(input: string, message: string) {
    super('validation', message);
    this.name = 'InputError';
    this.input = input;
  }
}

/** The failure reason of anything thrown: an ActionError's own, else `error`. */
export function failureReasonOf(error: unknown): FailureReason {
  return error instanceof ActionError ? error.reason : 'error';
}

/**
 * What `sync.templates/settings/static/all` reject with when MANUAL conflicts are left unresolved:
 * nothing was written. The message contains "Manual conflict resolution required" (the FastBlocks
 * seed's documented contract), and `result` is the full result, conflicts and plan included.
 */
export class ManualConflictError<R = unknown> extends Error {
  readonly result: R;
  constructor(message: string, result: R) {
    super(message);
    this.name = 'ManualConflictError';
    this.result = result;
  }
}
