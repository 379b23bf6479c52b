// Where the CLI writes: stdout for the report, stderr for errors and progress. Injected, so the
// commands run in-process under test with captured output.

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (the progress bar shows only there). */
  isTTY: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  // Undefined when stderr is no terminal, whatever its type says.
  isTTY: (process.stderr.isTTY as boolean | undefined) === true,
};
