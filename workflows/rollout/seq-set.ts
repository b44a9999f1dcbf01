/**
 * The rollout's finished bookkeeping (S8): a set of seqs as a bitmap above `base` (every seq below
 * `base` is in the set). Installation ids encode their seq (`installationIdFor`), so an
 * `installFinished` signal maps to its seq without a lookup. Bounded by the number of jobs (total/4 hex
 * characters at worst, usually tiny: leading full bytes are compacted into `base`); carried across
 * continue-as-new as hex.
 */
export class SeqSet {
  private bits: Uint8Array;
  private count = 0;

  private constructor(
    private base: number,
    bits: Uint8Array,
  ) {
    this.bits = bits;
    for (const b of bits) this.count += popcount(b);
  }

  static empty(): SeqSet {
    return new SeqSet(0, new Uint8Array(0));
  }

  static decode(e: { base: number; hex: string }): SeqSet {
    const bits = new Uint8Array(e.hex.length / 2);
    for (let i = 0; i < bits.length; i++) bits[i] = Number.parseInt(e.hex.slice(2 * i, 2 * i + 2), 16);
    return new SeqSet(e.base, bits);
  }

  encode(): { base: number; hex: string } {
    let hex = '';
    for (const b of this.bits) hex += b.toString(16).padStart(2, '0');
    return { base: this.base, hex };
  }

  /** Everything below this is in the set. */
  get low(): number {
    return this.base;
  }

  /** Members at or above `low` (those below are counted by the caller). */
  get sizeAboveLow(): number {
    return this.count;
  }

  has(seq: number): boolean {
    if (seq < this.base) return true;
    const i = seq - this.base;
    const byte = this.bits[i >> 3];
    return byte !== undefined && (byte & (1 << (i & 7))) !== 0;
  }

  /** Adds `seq`; false when it was already in. */
  add(seq: number): boolean {
    if (this.has(seq)) return false;
    const i = seq - this.base;
    const need = (i >> 3) + 1;
    if (need > this.bits.length) {
      const grown = new Uint8Array(Math.max(need, this.bits.length * 2, 16));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[i >> 3] = (this.bits[i >> 3] as number) | (1 << (i & 7));
    this.count++;
    this.compact();
    return true;
  }

  private compact(): void {
    let full = 0;
    while (full < this.bits.length && this.bits[full] === 0xff) full++;
    if (full === 0) return;
    this.base += full * 8;
    this.count -= full * 8;
    // keep trailing zero bytes out of the carried state
    let end = this.bits.length;
    while (end > full && this.bits[end - 1] === 0) end--;
    this.bits = this.bits.slice(full, end);
  }
}

function popcount(b: number): number {
  let n = 0;
  for (let x = b; x; x &= x - 1) n++;
  return n;
}
