/**
 * Errors a user can act on. The CLI prints their message as one line and exits with code 2;
 * anything else is a bug and keeps its stack trace.
 *
 * @module
 */

/** A problem with the user's input (flags, model files, data) that they can fix. */
export class UserError extends Error {
  /** Creates a user-facing error whose message says what is wrong and how to fix it. */
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** A model's state inputs and outputs do not pair up, or a feed does not match the graph. */
export class StateMismatchError extends UserError {
  /** Creates the error; the message names the state and the graph's expectation. */
  constructor(message: string) {
    super(message);
    this.name = "StateMismatchError";
  }
}
