// Errors a person fixes by changing their command or configuration (exit code 2).

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
