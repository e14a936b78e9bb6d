/**
 * Multi-query associative recall (MQAR; Arora et al., 2023, "Zoology") as a long-range diagnostic that separates
 * attention mechanisms by construction. An episode of T tokens first lists n key→value pairs, each as ONE token
 * (the pair token ⟨k=v⟩), then filler, then asks every key again in a random order; each asked key is followed by
 * its value, which a model can only predict by finding the pair, `distance` tokens back:
 *
 *     ⟨a=3⟩⟨q=7⟩⟨c=0⟩ ... ⟨z=5⟩ | . . . . . . . . . (gap) | c 0 q 7 z 5 a 3 ... | . . . (to T)
 *     pairs (n tokens)            filler                   queries (2n tokens)    filler
 *
 * One token per pair makes recall a single attention lookup (the asked key's query matches the pair token's key,
 * its value carries the value), so a small model learns it in minutes; the two-token layout of MQAR needs a
 * previous-token head first and learns far slower at this scale. A Transformer-VQ layer sees the keys of its own
 * block and the previous one exactly (the window, at most 2L − 1 tokens back) and everything older only through
 * the compressive cache, which keeps per code the mean of the values whose keys quantize to it. So a model
 * without the cache is at chance (1 / values) on queries whose pair lies outside the window, full attention is
 * not, and Transformer-VQ's recall depends on the codebook size S: pairs whose keys share a code average their
 * values.
 *
 * Tokens are bytes (the byte tokenizer): keys are letters a–z, values digits 0–9, the filler '.', and pair token
 * ⟨k=v⟩ is byte 128 + k·values + v (so keys · values ≤ 128; `describeEpisode` prints it as "a=3").
 * Everything is seeded: an episode depends only on (task, seed, split, episode index).
 *
 * Positions. With targets y[0..T) and inputs x = [EOS] + y[:-1], the model predicts y[p] at position p from x[≤p].
 * Pair i is y[i]; a query asks k at y[p−1] and scores v at y[p]. The position that holds pair i as input is i + 1:
 * `distance` = p − (i + 1), how far back the query must look. It lies in the exact window of block length L when
 * i + 1 ≥ L·(⌊p / L⌋ − 1), and always outside it when distance ≥ 2L.
 */
import { Rng } from "../runtime/rng";
import { BYTE_OFFSET } from "./vocab";

/** The parameters of a recall task. */
export interface RecallTask {
  /** episode length = the model's sequence length T */
  T: number;
  /** distinct keys asked per episode (n) */
  pairs: number;
  /** key alphabet: the first `keys` letters of a–z (≥ pairs) */
  keys: number;
  /** value alphabet: the first `values` digits of 0–9 (keys · values ≤ 128); chance accuracy is 1 / values */
  values: number;
  /** filler tokens between the last pair and the first query: uniform in [minGap, maxGap] per episode */
  minGap: number;
  maxGap: number;
}

export const KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz";
export const VALUE_ALPHABET = "0123456789";
export const FILLER = ".";
/** byte of the first pair token ⟨a=0⟩ */
export const PAIR_BYTE = 128;

/** One query of an episode: where its value is scored and how far back its pair is. */
export interface RecallQuery {
  /** index p of the scored value in the episode's targets y */
  pos: number;
  /** the input position holding the pair token (i + 1): distance = pos − source */
  source: number;
  distance: number;
  /** token ids of the asked key and its value */
  key: number;
  value: number;
}

export interface RecallEpisode {
  /** targets y [T] (byte token ids) */
  tokens: Uint16Array;
  queries: RecallQuery[];
}

const tokenOf = (ch: string) => ch.charCodeAt(0) + BYTE_OFFSET;
/** token id of the pair token ⟨k=v⟩ (k, v: indices into the alphabets) */
export const pairToken = (task: RecallTask, k: number, v: number) => PAIR_BYTE + k * task.values + v + BYTE_OFFSET;

/** Throws naming the field and the fix unless the task is well-formed. */
export function checkRecallTask(t: RecallTask): void {
  const int = (name: keyof RecallTask, lo: number, hi = Infinity) => {
    const v = t[name];
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new Error(`recall task ${name} = ${v} must be an integer in [${lo}, ${hi}]`);
  };
  int("T", 4); int("pairs", 1); int("keys", 1, KEY_ALPHABET.length); int("values", 2, VALUE_ALPHABET.length);
  int("minGap", 0); int("maxGap", t.minGap);
  if (t.keys * t.values > 128) throw new Error(`recall task keys · values = ${t.keys * t.values} > 128 pair tokens (bytes 128–255): lower keys or values`);
  if (t.pairs > t.keys) throw new Error(`recall task pairs = ${t.pairs} > keys = ${t.keys}: an episode asks distinct keys, so raise keys or lower pairs`);
  const need = 3 * t.pairs + t.maxGap;
  if (need > t.T) throw new Error(`recall task needs 3·pairs + maxGap = ${need} tokens but T = ${t.T}: lower maxGap or pairs, or raise T`);
}

/**
 * Episode `index` of `split` (0 train, 1 validation, 2 test) for a task and data seed.
 * @returns the targets y [T] and the n queries in episode order
 */
export function recallEpisode(task: RecallTask, seed: number, split: number, index: number): RecallEpisode {
  checkRecallTask(task);
  const rng = new Rng([seed, split, index]);
  const { T, pairs: n } = task;
  const y = new Uint16Array(T).fill(tokenOf(FILLER));
  const keyOrder = rng.shuffle(Int32Array.from({ length: task.keys }, (_, i) => i)).subarray(0, n);
  const vals = Int32Array.from({ length: n }, () => rng.nextInt(task.values));
  for (let i = 0; i < n; i++) y[i] = pairToken(task, keyOrder[i], vals[i]);
  const gap = task.minGap + rng.nextInt(task.maxGap - task.minGap + 1);
  const asked = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const q0 = n + gap;
  const queries: RecallQuery[] = [];
  for (let j = 0; j < n; j++) {
    const i = asked[j];
    const pos = q0 + 2 * j + 1;
    y[pos - 1] = tokenOf(KEY_ALPHABET[keyOrder[i]]);
    y[pos] = tokenOf(VALUE_ALPHABET[vals[i]]);
    queries.push({ pos, source: i + 1, distance: pos - (i + 1), key: y[pos - 1], value: y[pos] });
  }
  return { tokens: y, queries };
}

/** Whether a query's pair is inside the exact attention window of block length L (own block and the previous). */
export function inWindow(q: RecallQuery, L: number): boolean {
  return q.source >= L * (Math.floor(q.pos / L) - 1);
}

/** Episodes [0, count) of a split, concatenated: one token stream [count·T] (sequence s of it is episode s). */
export function recallStream(task: RecallTask, seed: number, split: number, count: number): Uint16Array {
  const out = new Uint16Array(count * task.T);
  for (let e = 0; e < count; e++) out.set(recallEpisode(task, seed, split, e).tokens, e * task.T);
  return out;
}

/** Chance accuracy of a value prediction: 1 / values. */
export function recallChance(task: RecallTask): number {
  return 1 / task.values;
}

/** An episode's targets as text: pair tokens as "a=3", the rest as their characters (for notebooks and errors). */
export function describeEpisode(task: RecallTask, tokens: ArrayLike<number>): string {
  let out = "";
  for (let i = 0; i < tokens.length; i++) {
    const b = tokens[i] - BYTE_OFFSET;
    if (b >= PAIR_BYTE && b < PAIR_BYTE + task.keys * task.values) {
      const j = b - PAIR_BYTE;
      out += `⟨${KEY_ALPHABET[Math.floor(j / task.values)]}=${VALUE_ALPHABET[j % task.values]}⟩`;
    } else out += b >= 0 && b < 128 ? String.fromCharCode(b) : "?";
  }
  return out;
}
