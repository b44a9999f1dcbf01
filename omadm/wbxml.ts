/**
 * WBXML primitives (WAP-192-WBXML 1.3) shared by the Client Provisioning codec (cp-wbxml.ts) and the
 * SyncML DM codec (syncml-wbxml.ts): global tokens, multi-byte integers, a writer and a reader.
 */

/** Global tokens (WBXML §7.1); `LITERAL` is also the tag id of a literal tag. */
export const WB = {
  SWITCH_PAGE: 0x00,
  END: 0x01,
  ENTITY: 0x02,
  STR_I: 0x03,
  LITERAL: 0x04,
  PI: 0x43,
  STR_T: 0x83,
  OPAQUE: 0xc3,
} as const;

/** Tag token bits: the element has attributes / content. */
export const TAG_ATTRS = 0x80;
export const TAG_CONTENT = 0x40;

/** IANA MIBenum of UTF-8, the only charset written. */
export const CHARSET_UTF8 = 106;

export class ByteWriter {
  private readonly parts: number[] = [];
  byte(...b: number[]): void {
    for (const x of b) this.parts.push(x);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
  mbUint(n: number): void {
    const out = [n & 0x7f];
    let v = n >>> 7;
    while (v > 0) {
      out.unshift((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.byte(...out);
  }
  strI(s: string): void {
    this.byte(WB.STR_I);
    this.bytes(Buffer.from(s, 'utf8'));
    this.byte(0x00);
  }
  opaque(b: Uint8Array): void {
    this.byte(WB.OPAQUE);
    this.mbUint(b.length);
    this.bytes(b);
  }
  toBuffer(): Buffer {
    return Buffer.from(this.parts);
  }
}

export class ByteReader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly fail: (message: string) => Error,
  ) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  peek(): number {
    if (this.done) throw this.fail('unexpected end of WBXML');
    return this.buf[this.pos] as number;
  }
  byte(): number {
    const b = this.peek();
    this.pos++;
    return b;
  }
  mbUint(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return v;
    }
    throw this.fail('mb_u_int32 too long');
  }
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw this.fail('unterminated string');
    const s = this.buf.subarray(this.pos, end).toString('utf8');
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw this.fail('truncated WBXML');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** The NUL-terminated string at `index` of a string table. */
export function tableString(table: Buffer, index: number, fail: (message: string) => Error): string {
  const end = table.indexOf(0, index);
  if (index >= table.length || end < 0) throw fail(`bad string table index ${index}`);
  return table.subarray(index, end).toString('utf8');
}
