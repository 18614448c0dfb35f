/**
 * An error meant for the user: the CLI prints its message without a stack trace. Name the file,
 * the key or id and the field in the message.
 */
export class DetkdError extends Error {
  override name = 'DetkdError';
}
