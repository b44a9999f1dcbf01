/**
 * The console's only way to the server: the public admin API with the admin key from sessionStorage
 * (the key never goes into a URL, a log or localStorage; closing the tab forgets it).
 */
export type Role = 'viewer' | 'operator' | 'admin';

const KEY = 'device-rollout.admin-key';

export const storedKey = (): string | null => sessionStorage.getItem(KEY);
export const storeKey = (key: string): void => sessionStorage.setItem(KEY, key);
export const forgetKey = (): void => sessionStorage.removeItem(KEY);

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
/** May a key of role `have` do what needs `need`? (api/admin/admin-auth.ts roleFor decides on the server.) */
export const covers = (have: Role, need: Role): boolean => RANK[have] >= RANK[need];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: any;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = body?.error;
  return new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `HTTP ${res.status}`, e?.field);
}

/** A JSON request; `key` overrides the stored key (sign-in). */
export async function api<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const auth = key ?? storedKey();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (auth) headers.authorization = `Bearer ${auth}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) {
    // the stored key stopped working (revoked, expired): the app goes back to the sign-in form
    if (res.status === 401 && key === undefined) window.dispatchEvent(new Event('admin-key-refused'));
    throw await errorOf(res);
  }
  return (await res.json()) as T;
}

/** Multipart upload with progress (fetch reports none): XMLHttpRequest. */
export function upload<T>(path: string, form: FormData, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const auth = storedKey();
    if (auth) xhr.setRequestHeader('authorization', `Bearer ${auth}`);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      const body = xhr.response as any;
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else {
        const e = body?.error;
        reject(new ApiError(xhr.status, e?.code ?? `http_${xhr.status}`, e?.message ?? `HTTP ${xhr.status}`, e?.field));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload did not reach the server'));
    xhr.send(form);
  });
}

/** A file behind the admin key (report, CSV): fetched with the header, saved through a blob link. */
export async function download(path: string, fileName: string): Promise<void> {
  const auth = storedKey();
  const res = await fetch(path, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
  if (!res.ok) throw await errorOf(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Query string of the defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

// ---- what the API answers (the fields the console reads) ----

export interface Me {
  keyId: string | null;
  name: string;
  role: Role;
  temporal: { namespace: string; uiUrl: string };
}

export interface Schedule {
  perDay?: number | 'unlimited';
  startDate?: string;
  weekdays?: string[];
  window?: { start?: string; end?: string };
  timeZone?: string;
}

/** A staged group's progress (issue 14). */
export interface Group {
  index: number;
  name: string;
  total: number;
  started: number;
  succeeded: number;
  failed: number;
  state: 'waiting' | 'awaiting-approval' | 'running' | 'done' | string;
}

export interface GroupWait {
  group: number;
  name: string;
  reason: 'success-threshold' | 'approval' | string;
  message: string;
}

/** Selected devices left out by options.skipUnreachable. */
export interface Skipped {
  total: number;
  noFile: number;
  noMsisdn: number;
  first: { id: string; externalId: string }[];
}

export interface Rollout {
  id: string;
  state: string;
  counts: Record<string, number>;
  total: number;
  started?: number;
  remaining?: number;
  finished?: number;
  nextStartAt: string | null;
  startsByDay?: Record<string, number> | { date: string; count: number }[];
  softwareId?: string;
  software?: { id?: string; name: string; version: string };
  schedule?: Schedule;
  options?: { useDm: boolean; push: string };
  workflowId?: string;
  createdAt?: string | null;
  completedAt?: string | null;
  pausedReason?: string | null;
  groups?: Group[] | null;
  waitingFor?: GroupWait | null;
  retryOf?: string | null;
  cancelling?: boolean;
}

export interface Job {
  id: string;
  seq: number;
  deviceId: string;
  externalId: string;
  platform: string;
  status: string | null;
  final: boolean;
  method: string | null;
  detail: string | null;
  plannedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  updatedAt: string | null;
}

export interface JobPage {
  installations: Job[];
  nextCursor: string | null;
}

export interface LogEntry {
  at: string | null;
  event: string;
  from: string | null;
  to: string | null;
  message: string | null;
}

export interface Device {
  id: string;
  externalId: string;
  platform: string;
  msisdn: string | null;
  bootstrapped: boolean;
  installed: Record<string, string>;
  tags: string[];
  lastSyncAt: string | null;
  lastContactAt: string | null;
  silentForSeconds: number | null;
  createdAt: string | null;
  retiredAt: string | null;
}

export interface DeviceDetail extends Device {
  history: { at: string | null; event: string; changes: Record<string, unknown>; keyName: string | null }[];
  jobs: (Omit<Job, 'seq' | 'deviceId' | 'externalId' | 'platform'> & {
    rolloutId: string;
    rolloutState: string;
    software: { id: string; name: string; version: string };
    log: LogEntry[];
  })[];
}

export interface Software {
  id: string;
  name: string;
  version: string;
  kind: 'dme-client' | 'other';
  platforms: string[];
  inHouseIos: boolean;
  bundleId: string | null;
  sha256: string | null;
  size: number | null;
  files: { id: string; fileName: string; format: string; size: number; sha256: string }[];
}

export interface Preview {
  total: number;
  slots: { deviceId: string; at: string | null; date: string }[];
  slotsTruncated: boolean;
  days: { date: string; count: number }[];
  firstStartAt: string | null;
  lastStartAt: string | null;
  schedule?: Schedule;
  groups?: { index: number; name: string; total: number; firstStartAt: string | null }[];
  assumption?: string;
  skipped?: Skipped;
}
