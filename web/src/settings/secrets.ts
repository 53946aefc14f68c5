// Write-only password fields: a stored secret is never put back into the page, only said to
// exist; a blank field sends the API's redaction marker back, which keeps the stored secret.

/** What the API shows in place of a stored secret; sent back, it keeps the secret. */
const REDACTED = '********';

export function showWriteOnly(input: HTMLInputElement, stored: unknown): void {
  input.value = '';
  input.placeholder = stored ? 'stored; leave blank to keep it' : '';
  input.dataset.stored = stored ? 'true' : '';
}

/** What to send: the typed secret, the marker that keeps the stored one, or null for none. */
export function writeOnlyValue(input: HTMLInputElement): string | null {
  if (input.value !== '') return input.value;
  return input.dataset.stored === 'true' ? REDACTED : null;
}
