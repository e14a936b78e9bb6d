// npm run export-official and lib/experiments/official/: a kit config handed to the official JAX code and read back.
// Every paper preset goes out as branch main's flags and as branch optimized's config module and comes back as
// the same config; the exported values are checked against docs/paper.md's hyperparameter tables (§4.1 for the
// flags of the original scripts, §4.2 for the optimized configs), parsed from the page, not repeated here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Config, getPreset, presetNames } from "../lib/config";
import {
  KIT_FIELD_MAP, OPTIMIZED_CONFIG_FILES, configModule, OfficialValues, PRESET_DATA, SIMPLE_FIELDS, exportOfficial, getPath, kitFromOfficial,
  parseConfigModule, parseOfficial, pyFloat, shellWords,
} from "../lib/experiments/official/index";

const REPO = path.resolve(__dirname, "..");
const FIXTURES = path.join(__dirname, "fixtures", "official-configs");
const PAPER = ["paper-enwik8", "paper-pg19", "paper-imagenet64", "paper-throughput"];

/** The rows of the first table under the heading that starts with `heading`: setting -> {column -> cell}. */
function paperTable(heading: string): Map<string, Record<string, string>> {
  const lines = fs.readFileSync(path.join(REPO, "docs", "paper.md"), "utf8").split("\n");
  const start = lines.findIndex((l) => l.startsWith(heading));
  assert.ok(start >= 0, `docs/paper.md has no heading ${heading}`);
  const first = lines.findIndex((l, i) => i > start && l.startsWith("|"));
  const rows: string[][] = [];
  for (let i = first; lines[i]?.startsWith("|"); i++) rows.push(lines[i].split("|").slice(1, -1).map((c) => c.trim()));
  const [head, , ...body] = rows;
  const table = new Map<string, Record<string, string>>();
  for (const r of body) table.set(r[0], Object.fromEntries(head.slice(1).map((h, j) => [h, r[j + 1]])));
  return table;
}

/** The numbers in a cell ("0 / 0.2 / 0.5 / 0.3", "100,000", "10k / 125k"). */
function numbers(cell: string): number[] {
  return [...cell.matchAll(/(\d[\d,]*(?:\.\d+)?(?:e-?\d+)?)(k?)/g)].map((m) => Number(m[1].replace(/,/g, "")) * (m[2] ? 1000 : 1));
}

const yesNo = (cell: string) => cell.split("/").map((c) => c.trim().startsWith("yes"));

/** Deep copy of a preset with overrides, the way a user's --set would make it. */
function variant(name: string, model: Partial<Config["model"]> = {}, train: Partial<Config["train"]> = {}): Config {
  return getPreset(name, { model, train });
}

test("the mapping names every kit config field (each has an official counterpart or the reason it has none)", () => {
  const cfg = getPreset("tiny") as unknown as Record<string, Record<string, unknown>>;
  const leaves = ["model", "train", "sampling"].flatMap((s) => Object.keys(cfg[s]).map((k) => `${s}.${k}`));
  for (const leaf of leaves) {
    const m = KIT_FIELD_MAP[leaf];
    assert.ok(m, `${leaf} is missing from KIT_FIELD_MAP`);
    assert.ok(m.main !== null || m.optimized !== null || (m.note ?? "").length > 0, `${leaf}: neither a counterpart nor a reason`);
  }
  assert.deepEqual(Object.keys(KIT_FIELD_MAP).filter((k) => !leaves.includes(k)), [], "KIT_FIELD_MAP names fields the config does not have");
});

test("a config module written for each official config file parses back to the same values and types", () => {
  for (const [name, values] of Object.entries(OPTIMIZED_CONFIG_FILES)) {
    const text = configModule(values, "test", name);
    assert.match(text, /^def get_config\(\):$/m);
    assert.match(text, /^    config\.dtype = jnp\.bfloat16$/m, "dtypes as jnp names");
    assert.deepEqual(parseConfigModule(text), values, name);
  }
  assert.equal(pyFloat(1), "1.0");
  assert.equal(pyFloat(0.0004), "0.0004");
});

for (const name of PAPER) {
  test(`${name}: export -> import gives back the same config on both branches`, () => {
    const cfg = getPreset(name);
    const e = exportOfficial(cfg);
    for (const [branch, text] of [["main", e.main.command], ["optimized", e.optimized.configFile!.text]] as const) {
      const k = kitFromOfficial(parseOfficial(text));
      assert.equal(k.branch, branch);
      assert.equal(k.preset, name, `${branch}: nearest preset`);
      assert.deepEqual(k.overrides, { preset: name }, `${branch}: no overrides needed`);
      for (const f of SIMPLE_FIELDS) {
        if ((branch === "main" ? f.main : f.optimized) !== null) assert.deepEqual(getPath(k.config, f.kit), getPath(cfg, f.kit), `${branch}: ${f.kit}`);
      }
      assert.deepEqual(k.config, cfg, `${branch}: the whole config`);
      assert.deepEqual(k.notRepresented, [], `${branch}: everything official is representable`);
      assert.deepEqual(k.notGiven, [], `${branch}: the export gives every mapped field`);
    }
    // what does not carry over is listed, not dropped: branch main expresses all of a paper preset
    assert.deepEqual(e.main.notExpressible, []);
    assert.deepEqual(e.optimized.notExpressible.map((n) => n.field), ["model", "sampling.topP"], "its own layer details, no sampling");
    assert.equal(e.data.official, PRESET_DATA[name]);
  });
}

test("branch main's flags of the paper presets reproduce docs/paper.md §4.1 (the original shell scripts)", () => {
  const table = paperTable("### 4.1");
  const columns: Record<string, string> = { Enwik8: "paper-enwik8", "PG-19": "paper-pg19", ImageNet64: "paper-imagenet64" };
  for (const [column, preset] of Object.entries(columns)) {
    const cfg = getPreset(preset);
    const e = exportOfficial(cfg).main;
    const v = e.values;
    const flagsOf = new Map(e.argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=") as [string, string]));
    const cell = (row: string) => {
      const c = table.get(row)?.[column];
      assert.ok(c !== undefined, `§4.1 has no row "${row}"`);
      return c === "same" ? table.get(row)!.Enwik8 : c;
    };
    const at = `${preset} (§4.1 ${column})`;
    const checks: Record<string, () => void> = {
      // the kit runs T = 8192 (12288) as one update, the scripts 2048 (1536) tokens at batch 128: the same tokens per
      // update (§4.3); the product is what must agree
      "global batch": () => assert.equal(Number(flagsOf.get("global_batch_size")) * Number(flagsOf.get("update_len")),
        numbers(cell("global batch"))[0] * numbers(cell("update length (tokens per update and row)"))[0], `${at}: tokens per update`),
      "update length (tokens per update and row)": () => assert.equal(cfg.train.sequenceLen % Number(flagsOf.get("update_len")), 0),
      "d_model / d_k / d_v": () => assert.deepEqual([v.d_model, v.d_k, v.d_v], numbers(cell("d_model / d_k / d_v")), at),
      "layers (two gated units each, no MLP, one head)": () => {
        assert.deepEqual([v.n_layer, v.n_head, v.d_ff], [numbers(cell("layers (two gated units each, no MLP, one head)"))[0], 1, 0], at);
      },
      "absolute position embedding": () => assert.equal(flagsOf.get("pe_abs"), yesNo(cell("absolute position embedding"))[0] ? "1" : "0", at),
      "longest sinusoid wavelength": () => assert.equal(Number(flagsOf.get("pe_lam")), numbers(cell("longest sinusoid wavelength"))[0], at),
      "dropout: embedding / sinusoids / residual / LayerDrop": () => assert.deepEqual(
        ["p_dropemb", "p_dropsin", "p_dropres", "p_droplyr"].map((f) => Number(flagsOf.get(f))), numbers(cell("dropout: embedding / sinusoids / residual / LayerDrop")), at),
      "commitment β / EMA γ": () => assert.deepEqual([Number(flagsOf.get("c_beta")), Number(flagsOf.get("c_gamma"))], numbers(cell("commitment β / EMA γ")), at),
      "tied head / pre-norm of the head / e_scale": () => {
        const c = cell("tied head / pre-norm of the head / e_scale");
        const [tie, preln] = yesNo(c);
        assert.deepEqual([flagsOf.get("e_tie"), flagsOf.get("e_preln"), Number(flagsOf.get("e_scale"))], [tie ? "1" : "0", preln ? "1" : "0", numbers(c).at(-1)], at);
      },
      optimizer: () => {
        const c = cell("optimizer");
        assert.equal(flagsOf.get("optimizer"), c.split(/[\s(]/)[0].toLowerCase(), at);
        // AdamW's β₁, β₂, ε are fixed in the launcher: the kit's must be those, or the export would list them
        if (/β₁/.test(c)) assert.deepEqual([cfg.train.adamB1, cfg.train.adamB2, cfg.train.adamEps], numbers(c.replace(/[β₁₂]/g, "")), at);
      },
      "peak learning rate": () => assert.equal(Number(flagsOf.get("lr_max")), numbers(cell("peak learning rate"))[0], at),
      schedule: () => {
        const c = cell("schedule");
        assert.match(c, /cosine/);
        assert.equal(flagsOf.get("lr_schedule"), "cosine");
        assert.deepEqual([Number(flagsOf.get("n_warmup_step")), cfg.train.lrFinalFrac], numbers(c), at);
      },
      "parameter updates": () => assert.equal(Number(flagsOf.get("n_max_step")), numbers(cell("parameter updates"))[0], at),
      "weight decay": () => assert.equal(Number(flagsOf.get("wd_lam")), numbers(cell("weight decay"))[0], at),
      "gradient clipping (global norm)": () => {
        const c = cell("gradient clipping (global norm)");
        if (c === "none") assert.equal(flagsOf.has("grad_clip"), false, `${at}: no --grad_clip (the launcher's None)`);
        else assert.equal(Number(flagsOf.get("grad_clip")), numbers(c)[0], at);
      },
      "nucleus p for samples": () => assert.equal(Number(flagsOf.get("p_nucleus")), numbers(cell("nucleus p for samples"))[0], at),
      // the first number is n_save_step; the second is the scripts' n_eval_step, which the launcher reads as batches per
      // evaluation (at each save), not as an interval: the kit's evalTokens = 0 (the whole split) omits the flag
      "evaluation and checkpoint every / batches per evaluation": () => {
        assert.equal(Number(flagsOf.get("n_save_step")), numbers(cell("evaluation and checkpoint every / batches per evaluation"))[0], at);
        assert.equal(flagsOf.has("n_eval_step"), false, `${at}: evalTokens 0 = the whole validation split`);
      },
    };
    for (const row of table.keys()) {
      assert.ok(checks[row], `§4.1 row "${row}" has no check: add one to this test`);
      checks[row]();
    }
  }
});

test("branch optimized's configs of the paper presets reproduce docs/paper.md §4.2 (the optimized config files)", () => {
  const table = paperTable("### 4.2");
  const columns: Record<string, string> = { Enwik8: "paper-enwik8", "PG-19": "paper-pg19", ImageNet64: "paper-imagenet64", throughput: "paper-throughput" };
  for (const [column, preset] of Object.entries(columns)) {
    const e = exportOfficial(getPreset(preset)).optimized;
    const v: OfficialValues = e.values;
    const at = `${preset} (§4.2 ${column})`;
    const cell = (row: string) => table.get(row)![column];
    const checks: Record<string, () => void> = {
      "global batch": () => assert.equal(v.global_batch_size, numbers(cell("global batch"))[0], at),
      "sequence length T": () => assert.equal(v.sequence_len, numbers(cell("sequence length T"))[0], at),
      "block length L (= memory length)": () => assert.equal(v.block_len, numbers(cell("block length L (= memory length)"))[0], at),
      "codebook size S": () => assert.equal(v.n_code, numbers(cell("codebook size S"))[0], at),
      "d_model / d_k / layers": () => assert.deepEqual([v.d_model, v.d_k, v.n_layer], numbers(cell("d_model / d_k / layers")), at),
      "head type": () => assert.equal(v.head_type, cell("head type").split(",")[0], at),
      "dropout: sinusoids / residual / LayerDrop": () => {
        const n = numbers(cell("dropout: sinusoids / residual / LayerDrop"));
        if (n.length) assert.deepEqual([v.p_dropsin, v.p_dropres, v.p_droplyr], n, at); // "not set in the file": nothing to compare
      },
      "absolute position embedding": () => {
        // the kit keeps the original ImageNet64 script's absolute embedding ("the original script: yes"): a listed difference
        const c = cell("absolute position embedding");
        const kitKeepsOriginal = /original script: yes/.test(c);
        assert.equal(v.pe_abs, kitKeepsOriginal || c.startsWith("yes"), at);
        assert.equal(e.configFile!.differences.some((d) => d.field === "pe_abs"), kitKeepsOriginal, at);
      },
      optimizer: () => {
        const c = cell("optimizer");
        assert.equal(v.optimizer, c.split(" ")[0].toLowerCase(), at);
        assert.equal(v.lr_max, numbers(c)[0], at);
        if (/clip \d/.test(c)) assert.equal(v.grad_clip, Number(/clip ([\d.]+)/.exec(c)![1]), at);
        if (/no clip/.test(c)) assert.equal(v.grad_clip, null, at);
        if (/decay/.test(c)) assert.equal(v.wd_lam, Number(/decay ([\de.-]+)/.exec(c)![1]), at);
      },
      "warm-up / updates": () => assert.deepEqual([v.n_warmup_step, v.n_max_step], numbers(cell("warm-up / updates")), at),
    };
    for (const row of table.keys()) {
      assert.ok(checks[row], `§4.2 row "${row}" has no check: add one to this test`);
      checks[row]();
    }
    // beyond the table: the model and training settings equal the official file's; only launch settings differ
    const launchOnly = ["prng_seed", "dtype", "n_eval_step"];
    const extra = e.configFile!.differences.map((d) => d.field).filter((f) => !launchOnly.includes(f) && f !== "pe_abs");
    assert.deepEqual(extra, [], `${at}: model/training settings that differ from ${e.configFile!.base}`);
  }
});

test("a changed config round-trips through branch main; what branch optimized cannot say is listed", () => {
  const cfg = variant("paper-enwik8", { nCode: 256, aggCache: false, memLen: 1024, attnType: "vq-recurrent" }, { gradClip: 0, updateLen: 2048, seed: 3 });
  const e = exportOfficial(cfg);
  const back = kitFromOfficial(parseOfficial(e.main.command));
  assert.deepEqual(back.overrides, { preset: "paper-enwik8", model: { nCode: 256, memLen: 1024, aggCache: false, attnType: "vq-recurrent" }, train: { updateLen: 2048, seed: 3, gradClip: 0 } });
  assert.deepEqual(back.config, cfg);
  assert.ok(!e.main.argv.some((a) => a.startsWith("--grad_clip")), "clip off = no --grad_clip");
  const lost = e.optimized.notExpressible.map((n) => n.field);
  for (const f of ["model.memLen", "model.aggCache", "train.updateLen"]) assert.ok(lost.includes(f), `optimized lists ${f}`);
  assert.equal(e.optimized.overrideArgv, null, "grad_clip 0.1 -> None cannot be a --config override");
});

test("--config.<field> overrides of an official file round-trip, and an MHA model goes through branch optimized only", () => {
  // bfloat16 and 10 evaluation batches as config_throughput.py: a dtype or a None cannot be a --config override
  const cfg = variant("paper-throughput", { headType: "mha", nHead: 6, dV: 128, dFF: 3072 }, { evalTokens: 10 * 8 * 8192 });
  assert.equal(exportOfficial(cfg).optimized.overrideArgv, null, "float32 differs from the file's bfloat16: not by flags");
  const e = exportOfficial(cfg, { precision: "bfloat16" });
  assert.deepEqual(e.main.notExpressible.map((n) => n.field), ["model.headType"]);
  assert.ok(e.optimized.overrideArgv, "head_type is a string field: flags can say it");
  assert.ok(e.optimized.overrideArgv!.includes("--config.head_type=mha"));
  const back = kitFromOfficial(parseOfficial(e.optimized.overrideArgv!.join(" ")));
  assert.equal(back.preset, "paper-throughput");
  assert.deepEqual(back.config.model, cfg.model);
  assert.deepEqual(back.config.train, cfg.train);
  assert.ok(e.optimized.overrideArgv!.includes("--config.prng_seed=0"), "the kit's seed overrides the file's 42");
});

test("a config module file and a lm_*.sh-style script import with their values, and the gaps are named", () => {
  const mqa = kitFromOfficial(parseOfficial(fs.readFileSync(path.join(FIXTURES, "config_small_mqa.py"), "utf8")));
  assert.equal(mqa.data, "pg19");
  assert.deepEqual([mqa.config.model.headType, mqa.config.model.nHead, mqa.config.model.dV, mqa.config.model.dFF], ["mqa", 4, 128, 5 * 512]);
  assert.deepEqual([mqa.config.model.vocabSize, mqa.config.model.peLam, mqa.config.model.cGamma, mqa.config.train.gradClip], [32_000, 10_000, 0.95, 0]);
  assert.equal(mqa.config.train.evalTokens, 20 * 4 * 2048, "n_eval_step batches of B·T tokens");
  assert.ok(mqa.officialOnly.some((n) => n.field === "reduction_type" && n.value === "matmul"));

  const sh = kitFromOfficial(parseOfficial(fs.readFileSync(path.join(FIXTURES, "lm_small.sh"), "utf8")));
  assert.equal(sh.branch, "main");
  assert.deepEqual([sh.config.model.memLen, sh.config.model.aggCache, sh.config.model.gradThruCache, sh.config.model.attnType], [256, false, false, "vq-recurrent"]);
  assert.deepEqual([sh.config.model.pDropEmb, sh.config.train.gradClip, sh.config.sampling.topP], [0.1, 0.5, 0.95]);
  assert.deepEqual(sh.notGiven.map((n) => n.field).sort(), ["train.seed", "train.sequenceLen"]);
  assert.match(sh.notGiven.find((n) => n.field === "train.sequenceLen")!.reason, /\$SEQUENCE_LEN/);
  assert.ok(sh.notRepresented.some((n) => n.field === "n_eval_step"), "n_eval_step without T is named");
  assert.ok(sh.officialOnly.some((n) => n.field === "out_checkpoint_dir" && n.value === "ckpt/small run"), "quoted values are read whole");
});

test("official text that cannot be read is refused naming the setting and the fix", () => {
  const bad: Array<[string, RegExp]> = [
    ["--d_model=768.5", /--d_model=768\.5: the launcher needs an integer/],
    ["--no_such_flag=1", /--no_such_flag is not a flag of branch main/],
    ["--optimizer=sgd", /--optimizer=sgd: the launcher needs one of adamw, lion, adafactor/],
    ["--config=scripts/config_nope.py", /not one of the official config_enwik8\.py/],
    ["--config=scripts/config_enwik8.py --config.n_cod=3", /n_cod is not a field of the official configs/],
    ["config.d_model = 'wide'", /line 1: config\.d_model = 'wide' is not an integer/],
    ["--d_model", /--d_model has no value/],
    ["d_model=768", /give official flags as --name=value/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseOfficial(text), re, text);
  const open = kitFromOfficial(parseOfficial(`--d_model=256 --grad_clip="$CLIP"`));
  assert.deepEqual(open.notGiven.filter((n) => ["model.vocabSize", "train.gradClip"].includes(n.field)).map((n) => n.reason),
    ["the source does not set dataset; kept paper-enwik8's value", `--grad_clip is "$CLIP", not a value; kept paper-enwik8's value`]);
  assert.deepEqual(shellWords(`a 'b c' "d \\"e\\"" f\\\n  g`), ["a", "b c", 'd "e"', "f", "g"]);
});

test("every preset exports (a preset without its own dataset needs --data), with lists that name the losses", () => {
  for (const name of presetNames()) {
    const cfg = getPreset(name);
    if (PRESET_DATA[name] === undefined) {
      assert.throws(() => exportOfficial(cfg), /has no dataset of its own: pass --data/);
      const e = exportOfficial(cfg, { data: "foldoc" });
      assert.ok(e.main.notExpressible.some((n) => n.field === "data" && n.value === "foldoc"), "a stand-in is named");
      continue;
    }
    const e = exportOfficial(cfg);
    assert.deepEqual(kitFromOfficial(parseOfficial(e.main.command)).config, cfg, name);
  }
  assert.throws(() => exportOfficial(getPreset("tiny"), { data: "file:./x.txt" }), /reads only enwik8, pg19 and imagenet64/);
});

/** Runs the CLI. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/export-official.ts", ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("npm run export-official: text, --json, --write-config, and --from-official back to the preset", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-official-"));
  try {
    const text = cli(["--preset", "paper-imagenet64"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /python3 scripts\/launch\.py \\\n {2}--multihost=0 \\\n {2}--command=train/);
    assert.match(text.stdout, /--config=scripts\/config_kit_paper_imagenet64\.py/);
    const file = path.join(dir, "config_kit.py");
    const j = cli(["--preset", "paper-pg19", "--branch", "optimized", "--precision", "bfloat16", "--write-config", file, "--json"]);
    assert.equal(j.status, 0, j.stderr);
    const out = JSON.parse(j.stdout);
    assert.deepEqual(Object.keys(out).filter((k) => k === "main" || k === "optimized"), ["optimized"]);
    assert.equal(out.optimized.values.dtype, "bfloat16");
    const saved = path.join(dir, "kit.json");
    const back = cli(["--from-official", file, "--write", saved]);
    assert.equal(back.status, 0, back.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(saved, "utf8")), { preset: "paper-pg19" });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["config_kit.py", "kit.json"], "atomic writes leave no temporaries");
    const flags = cli(["--from-official", "--config=scripts/config_enwik8.py --config.n_code=256", "--json"]);
    assert.equal(flags.status, 0, flags.stderr);
    assert.deepEqual(JSON.parse(flags.stdout).overrides.model, { nCode: 256 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("npm run export-official --out RUN: the run's config and dataset (a stand-in is named), one evaluation batch raised to two on branch optimized", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-official-run-"));
  try {
    const cfg = variant("tiny", { nCode: 32 }, { evalTokens: 64 });
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
    fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify({ name: "gcide", kind: "text", vocabSize: 259, tokenizer: "bytes", imageShape: null }));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ kind: "bytes" }));
    const r = cli(["--out", dir, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.data, { kit: "gcide", official: "enwik8", standIn: true });
    assert.equal(out.main.values.n_code, 32);
    assert.equal(out.main.values.n_eval_step, 1, "64 tokens = one batch of 2 × 32");
    assert.equal(out.optimized.values.n_eval_step, 2);
    assert.ok(out.main.notExpressible.some((n: { field: string }) => n.field === "data"));
    const back = kitFromOfficial(parseOfficial(out.main.argv.join(" ")));
    assert.deepEqual(back.config, cfg);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("npm run export-official: bad input exits 2 naming the value and the fix", () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /give --preset NAME, --out RUN or --from-official/],
    [["--preset", "paper-enwik9"], /--preset paper-enwik9: no such preset; use one of paper-enwik8/],
    [["--preset", "tiny", "--branch", "legacy"], /--branch legacy: use main, optimized or both/],
    [["--preset", "cpu-small"], /has no dataset of its own: pass --data/],
    [["--preset", "tiny", "--set", "model.nCode=0"], /model\.nCode = 0/],
    [["--from-official", "nope.py"], /--from-official nope\.py: no such file/],
    [["--from-official", "--n_code=abc"], /--n_code=abc: the launcher needs an integer/],
    [["--from-official", "--n_code=8", "--branch", "main"], /--branch belongs to an export/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
});
