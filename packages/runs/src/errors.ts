/** A run request that cannot be served; `message` is shown to the operator as is. */
export class RunRequestError extends Error {
  constructor(
    readonly statusCode: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'RunRequestError';
  }
}
