/**
 * Every failure a user can cause or fix is a TesaError: a stable code, a one-line message that
 * names the file, node or option at fault, and a hint. The CLI prints `tesa: <message> (hint: …)`
 * and exits with `exitCode`; a stack trace only with --debug.
 */
export type TesaErrorCode =
  | 'BAD_INPUT' // a file, option or model the user gave is wrong
  | 'BAD_MODEL' // the model parses but cannot be used (unknown op, shapes that do not fit)
  | 'NOT_FOUND' // a file, search, trial or zoo model that does not exist
  | 'STORE' // the database cannot be opened or is from a newer tesa
  | 'LOCKED' // another live process owns the search
  | 'BUILD_FAILED' // the compiler rejected a kernel
  | 'RUN_FAILED' // the runner crashed, hung or reported an error
  | 'WRONG_RESULT' // check mode found a kernel that computes the wrong thing
  | 'UNSUPPORTED' // a valid request this backend or op cannot serve
  | 'INTERNAL';

export class TesaError extends Error {
  readonly code: TesaErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: TesaErrorCode, message: string, hint?: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesaError';
    this.code = code;
    this.hint = hint;
    this.exitCode = options?.exitCode ?? (code === 'INTERNAL' ? 1 : 2);
  }

  /** The one line the CLI prints. */
  oneLine(): string {
    const msg = this.message.replace(/\s*\n\s*/g, ' ');
    return this.hint ? `${msg} (hint: ${this.hint})` : msg;
  }
}

export function isTesaError(e: unknown): e is TesaError {
  return e instanceof TesaError;
}

export function badInput(message: string, hint?: string): TesaError {
  return new TesaError('BAD_INPUT', message, hint);
}
