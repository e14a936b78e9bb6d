/**
 * Byte vocabulary and the tokenizer contract shared by every dataset (paper §6, after seqio's ByteVocabulary):
 * token 0 = PAD, 1 = EOS, 2 = UNK, no BOS; byte b becomes token b + 3, so the byte vocabulary has V = 259.
 * Every model input is [EOS] + targets[:-1] (the EOS "prompts" the sequence) and the loss mask is target ≠ PAD;
 * see batches.ts. Subword vocabularies (bpe.ts) keep the same three special ids.
 *
 * Token streams are stored as Uint16Array (V ≤ 65,536); batches hand the model Int32Array.
 */

export const PAD_ID = 0;
export const EOS_ID = 1;
export const UNK_ID = 2;
/** number of special ids before the first byte token */
export const BYTE_OFFSET = UNK_ID + 1;
/** V for byte-level data: 256 bytes + 3 specials */
export const BYTE_VOCAB_SIZE = 256 + BYTE_OFFSET;
/** largest vocabulary a Uint16Array token stream can hold */
export const MAX_VOCAB_SIZE = 65536;

/** A tokenizer's saved form (stored with each run so evaluation and sampling use the same vocabulary). */
export type TokenizerJSON = { kind: "bytes" } | BpeJSON;

/** Saved byte-level BPE: merge i (the pair merges[2i], merges[2i+1]) creates token id BYTE_VOCAB_SIZE + i. */
export interface BpeJSON {
  kind: "bpe";
  version: 1;
  /** the word splitter used before merging; see bpe.ts `splitWords` */
  pretokenizer: "bytes-words-v1";
  vocabSize: number;
  /** flat pairs of token ids [2 * (vocabSize - 259)] */
  merges: number[];
}

/** Maps bytes to token ids and back. Special ids 0/1/2 are never produced by `encode`. */
export interface Tokenizer {
  readonly kind: "bytes" | "bpe";
  /** V */
  readonly vocabSize: number;
  /** bytes [n] → token ids [m], no EOS added */
  encode(bytes: Uint8Array): Uint16Array;
  /** token ids [m] → bytes; PAD, EOS and UNK are dropped; throws on ids outside [0, V) */
  decode(tokens: ArrayLike<number>): Uint8Array;
  toJSON(): TokenizerJSON;
}

/**
 * Throws if any token is outside [0, V), naming the first bad value, its position and `what` the tokens are.
 * tokens: [n]
 */
export function checkTokenRange(tokens: ArrayLike<number>, vocabSize: number, what = "tokens"): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!(t >= 0 && t < vocabSize) || !Number.isInteger(t)) {
      throw new Error(
        `${what}: token ${t} at position ${i} is outside the vocabulary [0, ${vocabSize}); ` +
          `the data or the model's vocabSize is wrong (byte data needs vocabSize ${BYTE_VOCAB_SIZE}; a BPE run needs the tokenizer saved with it)`,
      );
    }
  }
}

/** Byte b → token b + 3. bytes: [n] → tokens [n] */
export function encodeBytes(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] + BYTE_OFFSET;
  return out;
}

/** Token t ≥ 3 → byte t − 3; PAD/EOS/UNK are dropped. tokens: [n] → bytes [≤ n]. Throws on ids ≥ 259 or < 0. */
export function decodeBytes(tokens: ArrayLike<number>): Uint8Array {
  checkTokenRange(tokens, BYTE_VOCAB_SIZE, "byte tokens");
  const out = new Uint8Array(tokens.length);
  let n = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] >= BYTE_OFFSET) out[n++] = tokens[i] - BYTE_OFFSET;
  return out.slice(0, n);
}

/** The byte-level tokenizer (V = 259) used for Enwik8, ImageNet64 and their stand-ins. */
export const byteTokenizer: Tokenizer = {
  kind: "bytes",
  vocabSize: BYTE_VOCAB_SIZE,
  encode: encodeBytes,
  decode: decodeBytes,
  toJSON: () => ({ kind: "bytes" }),
};

/** UTF-8 text → tokens. */
export function encodeText(tokenizer: Tokenizer, text: string): Uint16Array {
  return tokenizer.encode(new Uint8Array(Buffer.from(text, "utf8")));
}

/**
 * Bytes as text to print: valid UTF-8 stays as it is (multibyte characters included), while every byte that is
 * not part of a valid UTF-8 character (a sample cut inside a character, a stray continuation byte, an overlong
 * or surrogate encoding) is written \xNN, as are control characters other than newline and tab (C0, DEL, and
 * the C1 controls U+0080–U+009F as their two bytes), which a terminal would act on. Nothing becomes U+FFFD, so the
 * bytes stay readable; a backslash in the text itself is left alone (as Python's "backslashreplace").
 * bytes: [n] → text
 */
export function printableText(bytes: Uint8Array): string {
  const hex = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      out += (b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f ? hex(b) : String.fromCharCode(b);
      i++;
      continue;
    }
    // the length of the character a lead byte starts, and the range its second byte must be in (RFC 3629)
    const [len, lo, hi] = b >= 0xc2 && b <= 0xdf ? [2, 0x80, 0xbf] : b === 0xe0 ? [3, 0xa0, 0xbf] : b === 0xed ? [3, 0x80, 0x9f]
      : b >= 0xe1 && b <= 0xef ? [3, 0x80, 0xbf] : b === 0xf0 ? [4, 0x90, 0xbf] : b >= 0xf1 && b <= 0xf3 ? [4, 0x80, 0xbf]
      : b === 0xf4 ? [4, 0x80, 0x8f] : [0, 0, 0];
    let valid = len > 0 && i + len <= bytes.length && bytes[i + 1] >= lo && bytes[i + 1] <= hi;
    for (let k = 2; valid && k < len; k++) valid = bytes[i + k] >= 0x80 && bytes[i + k] <= 0xbf;
    if (!valid) {
      out += hex(b); // the bytes after it are judged on their own
      i++;
      continue;
    }
    let cp = b & (0xff >> (len + 1));
    for (let k = 1; k < len; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
    out += cp <= 0x9f ? hex(bytes[i]) + hex(bytes[i + 1]) : String.fromCodePoint(cp);
    i += len;
  }
  return out;
}

/** tokens → text to print (printableText: invalid UTF-8 and control bytes as \xNN, never U+FFFD). */
export function decodePrintable(tokenizer: Tokenizer, tokens: ArrayLike<number>): string {
  return printableText(tokenizer.decode(tokens));
}

/** tokens → text (invalid UTF-8, e.g. a sample cut inside a character, shows as U+FFFD; decodePrintable escapes it). */
export function decodeText(tokenizer: Tokenizer, tokens: ArrayLike<number>): string {
  return Buffer.from(tokenizer.decode(tokens)).toString("utf8");
}
