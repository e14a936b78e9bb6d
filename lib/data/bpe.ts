/**
 * Byte-level BPE: the subword vocabulary for the PG-19-style runs. The paper trains a SentencePiece BPE
 * vocabulary (32,000 pieces, pad 0 / eos 1 / unk 2, no bos) on the PG-19 train split (paper §6); this is our
 * own small equivalent, trained on our train split and saved as JSON with each run.
 *
 * Base symbols are the 256 bytes (ids 3..258, as in vocab.ts), so encode/decode round-trips any byte string
 * exactly and UNK never occurs. Text is first split into words (`splitWords`: an optional leading space plus a
 * run of letters, digits or punctuation, or a run of whitespace, as GPT-2 does); merges never cross words.
 * Training repeatedly merges the most frequent adjacent pair (ties: smaller ids first, so training is
 * deterministic) into a new id 259 + i, updating pair counts incrementally over a word-frequency table.
 */
import { BYTE_OFFSET, BYTE_VOCAB_SIZE, BpeJSON, MAX_VOCAB_SIZE, Tokenizer, TokenizerJSON, byteTokenizer, checkTokenRange } from "./vocab";

/** Words longer than this are cut into pieces (bounds the cost of encoding runs such as "=====…"). */
export const MAX_WORD_BYTES = 64;

// byte classes: 0 letter (ASCII letters and every byte ≥ 0x80, so UTF-8 characters stay inside words),
// 1 digit, 2 whitespace, 3 other (punctuation)
const BYTE_CLASS = new Uint8Array(256).map((_, b) =>
  (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b >= 128 ? 0 : b >= 48 && b <= 57 ? 1 : b === 32 || (b >= 9 && b <= 13) ? 2 : 3,
);

/**
 * Splits bytes into words and returns their end offsets [number of words] (word k spans ends[k-1]..ends[k]).
 * A word is " ?(letters+|digits+|punct+)" or a run of whitespace (a final space before a word is left to it).
 */
export function splitWords(bytes: Uint8Array): Int32Array {
  const n = bytes.length;
  const ends = new Int32Array(n + 1);
  let nw = 0;
  let i = 0;
  while (i < n) {
    const start = i;
    let c = BYTE_CLASS[bytes[i]];
    if (bytes[i] === 32 && i + 1 < n && BYTE_CLASS[bytes[i + 1]] !== 2) {
      i++;
      c = BYTE_CLASS[bytes[i]];
      i++;
      while (i < n && BYTE_CLASS[bytes[i]] === c && i - start < MAX_WORD_BYTES) i++;
    } else if (c === 2) {
      i++;
      while (i < n && BYTE_CLASS[bytes[i]] === 2 && i - start < MAX_WORD_BYTES) i++;
      if (i < n && i - 1 > start && bytes[i - 1] === 32 && BYTE_CLASS[bytes[i]] !== 2) i--;
    } else {
      i++;
      while (i < n && BYTE_CLASS[bytes[i]] === c && i - start < MAX_WORD_BYTES) i++;
    }
    ends[nw++] = i;
  }
  return ends.slice(0, nw);
}

const pairKey = (a: number, b: number): number => a * MAX_VOCAB_SIZE + b;

/** Max-heap of (count, pair key): larger count first, then smaller key (deterministic ties). */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private above(i: number, j: number): boolean {
    return this.c[i] > this.c[j] || (this.c[i] === this.c[j] && this.k[i] < this.k[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.c[i], k = this.k[i];
    this.c[i] = this.c[j]; this.k[i] = this.k[j];
    this.c[j] = c; this.k[j] = k;
  }
  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    let i = this.c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** returns [count, key] of the top and removes it */
  pop(): [number, number] {
    const top: [number, number] = [this.c[0], this.k[0]];
    const lastC = this.c.pop()!, lastK = this.k.pop()!;
    if (this.c.length > 0) {
      this.c[0] = lastC; this.k[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < this.c.length && this.above(l, m)) m = l;
        if (r < this.c.length && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

export interface BpeTrainOptions {
  /** stop early when the best pair occurs fewer times than this (default 2) */
  minFrequency?: number;
  /** train on at most this many bytes of the texts, taken in order (default: all) */
  maxBytes?: number;
}

/**
 * Trains byte-level BPE on `texts` (e.g. the train-split books) up to `vocabSize` ids (259 bytes+specials
 * plus vocabSize − 259 merges). Deterministic: same texts and options give the same merges.
 */
export function trainBpe(texts: Uint8Array[], vocabSize: number, opts: BpeTrainOptions = {}): BpeTokenizer {
  if (!Number.isInteger(vocabSize) || vocabSize <= BYTE_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
    throw new Error(`BPE vocabSize ${vocabSize} must be an integer in (${BYTE_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}]; use e.g. 4096`);
  }
  const minFrequency = opts.minFrequency ?? 2;
  // 1. word-frequency table (key: the word's bytes as a latin1 string)
  const freqOf = new Map<string, number>();
  let budget = opts.maxBytes ?? Infinity;
  for (const text of texts) {
    if (budget <= 0) break;
    const t = text.length > budget ? text.subarray(0, budget) : text;
    budget -= t.length;
    const buf = Buffer.from(t.buffer, t.byteOffset, t.length);
    const ends = splitWords(t);
    let s = 0;
    for (let w = 0; w < ends.length; w++) {
      const key = buf.toString("latin1", s, ends[w]);
      freqOf.set(key, (freqOf.get(key) ?? 0) + 1);
      s = ends[w];
    }
  }
  const words: Uint16Array[] = [];
  const freq: number[] = [];
  for (const [key, f] of freqOf) {
    const sym = new Uint16Array(key.length);
    for (let i = 0; i < key.length; i++) sym[i] = key.charCodeAt(i) + BYTE_OFFSET;
    words.push(sym);
    freq.push(f);
  }
  // 2. pair counts and, per pair, the words containing it (may hold stale entries; checked on use)
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const sym = words[w];
    for (let i = 0; i + 1 < sym.length; i++) {
      const k = pairKey(sym[i], sym[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + freq[w]);
      const ws = pairWords.get(k);
      if (ws === undefined) pairWords.set(k, [w]);
      else if (ws[ws.length - 1] !== w) ws.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);
  // 3. merges with incremental count updates
  const merges: number[] = [];
  const seen = new Int32Array(words.length).fill(-1);
  const nMerges = vocabSize - BYTE_VOCAB_SIZE;
  for (let m = 0; m < nMerges; m++) {
    let best = -1;
    while (heap.size > 0) {
      const [c, k] = heap.pop();
      if (pairCount.get(k) === c) {
        if (c >= minFrequency) best = k;
        break;
      }
    }
    if (best < 0) break;
    const a = Math.floor(best / MAX_VOCAB_SIZE), b = best % MAX_VOCAB_SIZE, z = BYTE_VOCAB_SIZE + m;
    merges.push(a, b);
    const before = new Map<number, number>();
    const bump = (k: number, d: number): void => {
      const c = pairCount.get(k) ?? 0;
      if (!before.has(k)) before.set(k, c);
      pairCount.set(k, c + d);
    };
    for (const w of pairWords.get(best) ?? []) {
      if (seen[w] === m) continue;
      seen[w] = m;
      const sym = words[w], f = freq[w];
      let found = false;
      for (let i = 0; i + 1 < sym.length && !found; i++) found = sym[i] === a && sym[i + 1] === b;
      if (!found) continue;
      for (let i = 0; i + 1 < sym.length; i++) bump(pairKey(sym[i], sym[i + 1]), -f);
      const out: number[] = [];
      for (let i = 0; i < sym.length; ) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) { out.push(z); i += 2; }
        else out.push(sym[i++]);
      }
      for (let i = 0; i + 1 < out.length; i++) {
        const k = pairKey(out[i], out[i + 1]);
        bump(k, f);
        if (out[i] === z || out[i + 1] === z) {
          const ws = pairWords.get(k);
          if (ws === undefined) pairWords.set(k, [w]);
          else if (ws[ws.length - 1] !== w) ws.push(w);
        }
      }
      words[w] = Uint16Array.from(out);
    }
    pairWords.delete(best);
    for (const [k, c0] of before) {
      const c = pairCount.get(k)!;
      if (c <= 0) { pairCount.delete(k); pairWords.delete(k); }
      else if (c !== c0) heap.push(c, k);
    }
    pairCount.delete(best);
  }
  return new BpeTokenizer(merges);
}

/** A trained byte-level BPE vocabulary: V = 259 + number of merges. */
export class BpeTokenizer implements Tokenizer {
  readonly kind = "bpe" as const;
  readonly vocabSize: number;
  /** flat merge pairs [2 * (V − 259)] */
  readonly merges: Uint16Array;
  /** bytes of each id (empty for the specials) [V] */
  private readonly pieces: Uint8Array[];
  private readonly rank = new Map<number, number>();
  private cache = new Map<string, Uint16Array>();

  constructor(merges: ArrayLike<number>) {
    if (merges.length % 2 !== 0) throw new Error(`BPE merges must be pairs; got ${merges.length} numbers`);
    this.merges = Uint16Array.from(merges);
    this.vocabSize = BYTE_VOCAB_SIZE + merges.length / 2;
    this.pieces = [];
    for (let id = 0; id < BYTE_VOCAB_SIZE; id++) this.pieces.push(id < BYTE_OFFSET ? new Uint8Array(0) : Uint8Array.of(id - BYTE_OFFSET));
    for (let i = 0; i < merges.length / 2; i++) {
      const a = merges[2 * i], b = merges[2 * i + 1], z = BYTE_VOCAB_SIZE + i;
      if (!(a >= BYTE_OFFSET && a < z && b >= BYTE_OFFSET && b < z)) {
        throw new Error(`BPE merge ${i} = (${a}, ${b}) refers to an id that is special or not yet defined (< ${z} required); the tokenizer JSON is corrupt`);
      }
      const p = new Uint8Array(this.pieces[a].length + this.pieces[b].length);
      p.set(this.pieces[a]);
      p.set(this.pieces[b], this.pieces[a].length);
      this.pieces.push(p);
      this.rank.set(pairKey(a, b), i);
    }
  }

  /** The bytes a token id stands for (empty for PAD/EOS/UNK). */
  piece(id: number): Uint8Array {
    checkTokenRange([id], this.vocabSize, "BPE id");
    return this.pieces[id];
  }

  /** One word's bytes → ids: apply the lowest-rank merge everywhere, repeat until no merge applies. */
  private encodeWord(word: Uint8Array): Uint16Array {
    let sym: number[] = Array.from(word, (b) => b + BYTE_OFFSET);
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const r = this.rank.get(pairKey(sym[i], sym[i + 1]));
        if (r !== undefined && r < bestRank) bestRank = r;
      }
      if (bestRank === Infinity) break;
      const a = this.merges[2 * bestRank], b = this.merges[2 * bestRank + 1], z = BYTE_VOCAB_SIZE + bestRank;
      const out: number[] = [];
      for (let i = 0; i < sym.length; ) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) { out.push(z); i += 2; }
        else out.push(sym[i++]);
      }
      sym = out;
    }
    return Uint16Array.from(sym);
  }

  /** bytes [n] → ids [m ≤ n] */
  encode(bytes: Uint8Array): Uint16Array {
    const out = new Uint16Array(bytes.length);
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const ends = splitWords(bytes);
    let n = 0, s = 0;
    for (let w = 0; w < ends.length; w++) {
      const key = buf.toString("latin1", s, ends[w]);
      let ids = this.cache.get(key);
      if (ids === undefined) {
        ids = this.encodeWord(bytes.subarray(s, ends[w]));
        if (this.cache.size > 500_000) this.cache = new Map();
        this.cache.set(key, ids);
      }
      out.set(ids, n);
      n += ids.length;
      s = ends[w];
    }
    return out.slice(0, n);
  }

  /** ids [m] → bytes (PAD/EOS/UNK dropped); throws naming the first id ≥ V */
  decode(tokens: ArrayLike<number>): Uint8Array {
    checkTokenRange(tokens, this.vocabSize, "BPE tokens");
    let len = 0;
    for (let i = 0; i < tokens.length; i++) len += this.pieces[tokens[i]].length;
    const out = new Uint8Array(len);
    let n = 0;
    for (let i = 0; i < tokens.length; i++) {
      const p = this.pieces[tokens[i]];
      out.set(p, n);
      n += p.length;
    }
    return out;
  }

  toJSON(): BpeJSON {
    return { kind: "bpe", version: 1, pretokenizer: "bytes-words-v1", vocabSize: this.vocabSize, merges: Array.from(this.merges) };
  }
}

/** Rebuilds a tokenizer from its saved JSON (bytes or BPE), checking the format. */
export function tokenizerFromJSON(json: TokenizerJSON): Tokenizer {
  if (json?.kind === "bytes") return byteTokenizer;
  if (json?.kind === "bpe") {
    if (json.version !== 1 || json.pretokenizer !== "bytes-words-v1") {
      throw new Error(`unsupported BPE tokenizer version ${json.version} / pretokenizer ${json.pretokenizer}; retrain it with this kit`);
    }
    const tok = new BpeTokenizer(json.merges);
    if (tok.vocabSize !== json.vocabSize) {
      throw new Error(`BPE tokenizer JSON says vocabSize ${json.vocabSize} but has ${json.merges.length / 2} merges (→ ${tok.vocabSize}); the file is corrupt`);
    }
    return tok;
  }
  throw new Error(`unknown tokenizer kind ${JSON.stringify((json as { kind?: unknown })?.kind)}; expected "bytes" or "bpe"`);
}
