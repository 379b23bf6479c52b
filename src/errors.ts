// One way to turn anything thrown into a message, and the errors the Action fails with.
// `failure-reason` (an Action output) is carried by the error, so main.ts decides nothing twice.

/** Why a run failed, as the `failure-reason` output reports it. */
export const FAILURE_REASONS = ['manual-conflicts', 'plan-changed', 'locked', 'validation', 'error'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

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
  if (error === undefined || error === null) return String(error);
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** A failure the Action reports with a known `failure-reason`. */
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
