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

/**
 * ONNX Runtime failed while running a model: the message names the model, the call (prefill,
 * step or score) and the input shapes, then ONNX Runtime's reason.
 */
export class ModelRunError extends UserError {
  /** Creates the error from its one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "ModelRunError";
  }

  /**
   * The error of one failed call of `model`: `rows × len` new tokens after a past of `past`, for
   * `call`, failed for `reason` (ONNX Runtime's message; its first line is kept).
   */
  static of(
    model: string,
    call: string,
    rows: number,
    len: number,
    past: number,
    reason: string,
  ): ModelRunError {
    return new ModelRunError(
      `Cannot run ${model} (${call}: input_ids [${rows}, ${len}] after a past of ${past}) as onnxruntime ` +
        `failed: ${reason.split("\n")[0]}`,
    );
  }
}
