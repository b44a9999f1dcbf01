// PreparedStatement: knex-style `:name` bindings → PostgreSQL `$n`, casts untouched, every value required.
import { describe, expect, it } from 'vitest';
import { type Db, PreparedStatement } from '../../infra/db';

describe('PreparedStatement', () => {
  it('numbers the bindings in order of first use, once per name; casts and literals stay', () => {
    const s = new PreparedStatement(
      't',
      `SELECT :a::uuid, to_char(now(), 'HH24:MI:SS'), '[]'::json, :b, :a::text WHERE x = :c::int`,
    );
    expect(s.text).toBe(`SELECT $1::uuid, to_char(now(), 'HH24:MI:SS'), '[]'::json, $2, $1::text WHERE x = $3::int`);
  });

  it('refuses a missing binding before touching the database (null is a value)', async () => {
    const s = new PreparedStatement('t', 'SELECT :a, :b');
    const db = { client: {} } as unknown as Db;
    await expect(s.rows(db, { a: null })).rejects.toThrow('t: no value for :b');
  });
});
