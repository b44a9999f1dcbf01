/** Instants as the API, the logs and the reports write them: ISO 8601 in UTC. */

/** Epoch milliseconds of a date (a Date, an ISO string or epoch ms); undefined for none or an invalid date. */
export function toEpochMs(d: Date | string | number | null | undefined): number | undefined {
  if (d === null || d === undefined) return undefined;
  const ms = d instanceof Date ? d.getTime() : typeof d === 'number' ? d : Date.parse(d);
  return Number.isFinite(ms) ? ms : undefined;
}

/** ISO 8601 of a date (a Date, an ISO string or epoch ms); null for none or an invalid date. */
export function isoOrNull(d: Date | string | number | null | undefined): string | null {
  const ms = toEpochMs(d);
  return ms === undefined ? null : new Date(ms).toISOString();
}
