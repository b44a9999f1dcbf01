import knex, { type Knex } from 'knex';
import { migrationSource } from '../migrations';

export type Db = Knex;

export function createDb(url: string, opts: { poolMax?: number } = {}): Db {
  return knex({
    client: 'pg',
    connection: { connectionString: url, application_name: 'device-rollout' },
    pool: { min: 0, max: opts.poolMax ?? 10 },
    acquireConnectionTimeout: 10_000,
  });
}

/** Applies every pending migration; safe to run from several processes (knex takes a lock). */
export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}

/**
 * A hot-path statement PostgreSQL parses and plans once per connection (a named prepared statement)
 * instead of on every call: in the benchmark, planning the device endpoints' and the install steps'
 * statements cost as much CPU as executing them. Written with knex's `:name` bindings (`::type` casts
 * untouched); runs on `db` or inside a transaction (`trx`), and shows in knex's `query` events.
 */
export class PreparedStatement<Row> {
  readonly text: string;
  private readonly params: string[] = [];

  constructor(
    readonly name: string,
    sql: string,
  ) {
    this.text = sql.replace(/(?<![:\w]):([A-Za-z_]\w*)/g, (_m, p: string) => {
      const i = this.params.indexOf(p);
      if (i >= 0) return `$${i + 1}`;
      this.params.push(p);
      return `$${this.params.length}`;
    });
  }

  async rows(db: Db, bindings: Record<string, unknown>): Promise<Row[]> {
    const values = this.params.map((p) => {
      const v = bindings[p];
      if (v === undefined) throw new Error(`${this.name}: no value for :${p}`);
      return v;
    });
    const client = db.client as Knex.Client & {
      acquireConnection(): Promise<{ query(q: object): Promise<{ rows: Row[] }>; __knexUid?: string; __knexTxId?: string }>;
      releaseConnection(c: unknown): Promise<void>;
    };
    const conn = await client.acquireConnection();
    try {
      client.emit('query', {
        __knexUid: conn.__knexUid,
        __knexTxId: conn.__knexTxId,
        method: 'raw',
        sql: this.text,
        bindings: values,
      });
      return (await conn.query({ name: this.name, text: this.text, values })).rows;
    } finally {
      await client.releaseConnection(conn);
    }
  }
}
