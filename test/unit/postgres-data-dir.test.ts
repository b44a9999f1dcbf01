/**
 * When we are root, PostgreSQL runs as the `postgres` user, who must pass through every directory on the
 * way to its data. A fresh clone in a `mktemp -d` directory (mode 0700) is not on such a path: `npm run
 * cluster` then failed with initdb's bare "Permission denied". devstack/postgres.ts names the directory.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closedDirectoryOnPath } from '../../devstack/postgres';

describe('the path to the data directory, for another user', () => {
  const made: string[] = [];
  afterEach(async () => {
    for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  async function tree(mode: number) {
    const top = await mkdtemp(path.join(os.tmpdir(), 'pg-path-'));
    made.push(top);
    const data = path.join(top, 'p', '.data', 'cluster', 'postgres');
    await mkdir(data, { recursive: true });
    await chmod(top, mode);
    return { top, data, owner: (await stat(top)).uid };
  }
  // a user who owns none of it and is in none of its groups
  const stranger = { uid: 54_321, groups: [54_321] };

  it('names the first directory the user may not pass through, with its mode', async () => {
    const { top, data } = await tree(0o700);
    expect(await closedDirectoryOnPath(data, stranger)).toEqual({ dir: top, mode: '0700' });
  });

  it('a path open to others, or to the group the user is in, or owned by the user, is open', async () => {
    const open = await tree(0o711);
    expect(await closedDirectoryOnPath(open.data, stranger)).toBeUndefined();
    const group = await tree(0o710);
    const gid = (await stat(group.top)).gid;
    expect(await closedDirectoryOnPath(group.data, { uid: 54_321, groups: [54_321, gid] })).toBeUndefined();
    expect(await closedDirectoryOnPath(group.data, stranger)).toEqual({ dir: group.top, mode: '0710' });
    const own = await tree(0o700);
    expect(await closedDirectoryOnPath(own.data, { uid: own.owner, groups: [] })).toBeUndefined();
  });
});
