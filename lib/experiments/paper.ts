/**
 * The paper's own numbers, one table: every headline result, ablation direction and speed claim that a notebook
 * puts beside ours, each marked confirmed (read in the paper's abstract) or UNCONFIRMED (a secondary source), with
 * its setup. docs/paper.md gives the sources.
 */
import * as aq from "arquero";
import type { Table } from "../util/table";

export interface PaperNumber {
  /** stable key, used by paperComparison */
  id: string;
  /** the notebook that reproduces it */
  experiment: string;
  dataset: string;
  metric: string;
  /** the number; null when the paper states only a direction (value UNCONFIRMED) */
  value: number | null;
  /** ">" for claims such as "over 3x faster", "≈" for approximate, "=" otherwise */
  relation: "=" | ">" | "≈";
  unit: string;
  /** the paper's setup (model size, hardware) */
  setup: string;
  /** true when paper.md confirms it from the paper's own abstract; false = UNCONFIRMED (secondary source) */
  confirmed: boolean;
  /** source tags of docs/paper.md: [ABS] the abstract, [JP] the paper's text, [REV] the reviews, [CODE-*] the code */
  source: string;
  note: string;
  /** for speedup claims: the sequence length and the head types the claim is about */
  T?: number;
  heads?: string[];
}

/** The paper's numbers as docs/paper.md states them. */
export const PAPER_REFERENCE: readonly PaperNumber[] = [
  { id: "enwik8-test-bpb", experiment: "01-enwik8", dataset: "Enwik8", metric: "test bits per byte", value: 0.99, relation: "=", unit: "bpb",
    setup: "~190M params, L=512, S=512, TPU v3", confirmed: true, source: "[ABS]", note: "on par with Transformer-XL large (0.99)" },
  { id: "enwik8-test-bpb-transformer-xl", experiment: "01-enwik8", dataset: "Enwik8", metric: "test bpb of the quadratic-attention baseline",
    value: 0.99, relation: "=", unit: "bpb", setup: "Transformer-XL large, as cited by the paper (not the paper's own run)", confirmed: false,
    source: "[ABS]", note: "the comparison model; our counterpart is the same-size full-attention model" },
  { id: "pg19-test-ppl", experiment: "02-pg19", dataset: "PG-19", metric: "test perplexity (word-level)", value: 26.6, relation: "=", unit: "ppl",
    setup: "~1.3B params, 32k BPE vocabulary", confirmed: true, source: "[ABS], [JP]", note: "word-level normalization procedure UNCONFIRMED" },
  { id: "imagenet64-bpb", experiment: "03-imagenet64", dataset: "ImageNet64", metric: "bits per byte (official val set as test)", value: 3.16, relation: "=", unit: "bpb",
    setup: "~1.2B params", confirmed: true, source: "[ABS]", note: "" },
  { id: "imagenet64-bpb-190m", experiment: "03-imagenet64", dataset: "ImageNet64", metric: "bits per byte (official val set as test)", value: 3.22, relation: "=", unit: "bpb",
    setup: "~190M params", confirmed: false, source: "[JP]", note: "UNCONFIRMED: secondary source only" },
  { id: "throughput-8k", experiment: "20-throughput", dataset: "—", metric: "training speedup over quadratic attention, T=8192", value: 3, relation: ">", unit: "×", T: 8192, heads: ["shga"],
    setup: "SHGA, ~190M, S=512, L=512, TPU v3 ×8, batch 8", confirmed: true, source: "[ABS], [JP]", note: "" },
  { id: "throughput-32k", experiment: "20-throughput", dataset: "—", metric: "training speedup over quadratic attention, T=32768", value: 12, relation: ">", unit: "×", T: 32768, heads: ["shga"],
    setup: "SHGA, ~190M, S=512, L=512, TPU v3 ×8, batch 8", confirmed: true, source: "[ABS], [JP]", note: "" },
  { id: "throughput-8k-mha", experiment: "20-throughput", dataset: "—", metric: "training speedup over quadratic attention, T=8192, MHA/MQA", value: 6, relation: ">", unit: "×", T: 8192, heads: ["mha", "mqa"],
    setup: "MHA/MQA heads, TPU v3 ×8", confirmed: false, source: "[JP]", note: "UNCONFIRMED: secondary source only" },
  { id: "cache-off-speedup", experiment: "12-ablation-compressive-cache", dataset: "Enwik8", metric: "step-time speedup with compressive cache off", value: 1.1, relation: "≈", unit: "×",
    setup: "v1 Sec. 5.1.2", confirmed: false, source: "[JP]", note: "UNCONFIRMED: exact ratio not read from the paper" },
  { id: "cache-off-bpb", experiment: "12-ablation-compressive-cache", dataset: "Enwik8", metric: "bpb with compressive cache off", value: null, relation: "=", unit: "bpb",
    setup: "v1 Sec. 5.1.2", confirmed: false, source: "[JP]", note: "UNCONFIRMED: 'clearly worse' than with the cache; value unknown" },
  { id: "codebook-size-trend", experiment: "10-ablation-codebook-size", dataset: "—", metric: "quality vs codebook size S ∈ {256, 512, 1024}", value: null, relation: "=", unit: "",
    setup: "v1 Sec. 5.1.1", confirmed: false, source: "[REV], [JP]", note: "UNCONFIRMED values and dataset; larger S: better quality, slower steps" },
];

/** The quantity and the paper's value as table cells, e.g. "Enwik8: test bits per byte", "0.99" or "> 3×". */
function paperCells(p: PaperNumber): { quantity: string; paper: string } {
  return {
    quantity: `${p.dataset === "—" ? "" : p.dataset + ": "}${p.metric}`,
    paper: p.value === null ? "—" : `${p.relation === "=" ? "" : p.relation + " "}${p.value}${p.unit === "×" ? "×" : ""}`,
  };
}

/**
 * The paper's numbers for one notebook (all when omitted) as a table.
 * @param experiment e.g. "01-enwik8"
 */
export function paperReference(experiment?: string): Table {
  const rows = PAPER_REFERENCE.filter((p) => !experiment || p.experiment === experiment);
  return aq.from(rows.map((p) => ({
    ...paperCells(p),
    "paper setup": p.setup,
    status: p.confirmed ? "confirmed" : "UNCONFIRMED",
    note: p.note,
  })));
}

/**
 * Our numbers beside the paper's, one row per paper number: quantity, paper value, paper setup, status, ours,
 * our setup. Use it for the results table of each notebook.
 * @param ours one entry per paper number we measured: id from PAPER_REFERENCE, our value, and our setup
 *   (e.g. "1.2M params, T=512, 20 min CPU, wasm")
 */
export function paperComparison(ours: Array<{ id: string; value: number | null; setup: string }>): Table {
  const rows = ours.map((o) => {
    const p = PAPER_REFERENCE.find((r) => r.id === o.id);
    if (!p) throw new Error(`paperComparison: unknown paper number id ${JSON.stringify(o.id)}; use one of ${PAPER_REFERENCE.map((r) => r.id).join(", ")}`);
    return {
      ...paperCells(p),
      "paper setup": p.setup,
      "paper status": p.confirmed ? "confirmed" : "UNCONFIRMED",
      ours: o.value,
      "our setup": o.setup,
    };
  });
  return aq.from(rows);
}

/**
 * The paper's training-speedup claims (VQ over quadratic attention) for one head type: T -> "more than x times".
 * @param head "shga" | "mha" | "mqa"
 */
export function paperSpeedups(head: string): Map<number, number> {
  return new Map(PAPER_REFERENCE.filter((p) => p.T !== undefined && p.value !== null && (p.heads ?? []).includes(head))
    .map((p) => [p.T!, p.value!]));
}
