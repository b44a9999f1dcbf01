/**
 * MSISDNs (the devices' phone numbers, SPEC: devices are pushed by SMS / WAP push to them).
 * One rule for registration and for the push channels: E.164 — an optional `+` or `00`, then 7–15
 * digits not starting with 0; spaces, dashes, dots, slashes and parentheses are ignored.
 * Stored and sent as `+<digits>`.
 */
export function normalizeMsisdn(raw: string): string | undefined {
  const compact = raw.replace(/[\s\-.()/]/g, '');
  const m = /^(?:\+|00)?([1-9]\d{6,14})$/.exec(compact);
  return m ? `+${m[1]}` : undefined;
}
