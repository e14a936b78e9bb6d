// Every command of package.json answers --help (exit 0, a usage line, its flags) without doing any work, and
// refuses an unknown flag (non-zero exit, the flag named) before doing any; plus the flag parser itself
// (scripts/args.ts, node:util parseArgs underneath).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CommandSpec, UsageError, closestChoice, helpText, parseFlags, parseFlagsAndPositionals } from "../scripts/args";

const REPO = path.resolve(__dirname, "..");
const SCRIPTS = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
/** Commands that hand their arguments to another program, so they cannot refuse an unknown flag themselves. */
const FORWARDS_ARGS: Record<string, string> = { lab: "passes its arguments to `jupyter lab`" };
/** Commands whose --help is another tool's own (no "usage:" line of ours). */
const EXTERNAL_HELP: Record<string, RegExp> = { typecheck: /tsc/ };
/** Scripts that are not in package.json but are run by hand or by setup. */
const OTHER_COMMANDS: Record<string, string> = {
  "scripts/setup-native.sh": "bash scripts/setup-native.sh",
  "scripts/fetch-data.sh": "bash scripts/fetch-data.sh",
  "scripts/prepare-data.ts": "node --import tsx scripts/prepare-data.ts",
  "scripts/setup-gpu.sh": "bash scripts/setup-gpu.sh",
  "scripts/slurm-local.sh": "bash scripts/slurm-local.sh",
};

/** Runs a package.json command with extra arguments, as `npm run <name> -- args` does (npm appends them). */
function run(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, PATH: `${path.join(REPO, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}`, TVQ_LAB_SETUP: "0" };
  const r = spawnSync("bash", ["-c", `${command} "$@"`, "bash", ...args], { cwd: REPO, env, encoding: "utf8", timeout: 90_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

test("package.json has the commands the README documents", () => {
  for (const name of ["setup", "main", "test", "test:unit", "typecheck", "lab", "notebook", "sweep", "train", "eval", "sample", "bench", "bench:backends", "equivalence", "download", "summary"]) {
    assert.ok(name in SCRIPTS, `package.json scripts has no "${name}"`);
  }
});

for (const [name, command] of Object.entries({ ...SCRIPTS, ...OTHER_COMMANDS })) {
  const label = name.startsWith("scripts/") ? name : `npm run ${name} --`;
  test(`${label} --help: exit 0 with a usage line`, () => {
    const r = run(command, ["--help"]);
    assert.equal(r.status, 0, `${label} --help exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    if (name in EXTERNAL_HELP) assert.match(r.stdout, EXTERNAL_HELP[name]);
    else {
      assert.match(r.stdout, /^usage: \S/m, `${label} --help prints no "usage:" line:\n${r.stdout}`);
      assert.match(r.stdout, /-h, --help\s+print this help/, "--help lists the flags, --help included");
      assert.match(r.stdout, /^examples?:\n {2}\S/m, "--help ends with an example");
    }
  });
  if (name in FORWARDS_ARGS) continue; // e.g. lab: unknown flags are jupyter's to judge (and would start it)
  test(`${label} --no-such-flag: a non-zero exit that names the flag`, () => {
    const r = run(command, ["--no-such-flag"]);
    assert.notEqual(r.status, 0, `${label} accepted --no-such-flag\n${r.stdout}\n${r.stderr}`);
    assert.notEqual(r.status, null, `${label} --no-such-flag did not exit by itself (timeout)`);
    assert.match(r.stdout + r.stderr, /--no-such-flag/);
  });
}

test("the TypeScript CLIs exit 2 on bad command lines, naming the flag and the fix", () => {
  const ts = (script: string, args: string[]) => run(`node --import tsx scripts/${script}`, args);
  const cases: Array<[string, string[], RegExp]> = [
    ["train.ts", ["--preset", "tiny", "--step", "3"], /unknown flag --step; known flags: .*--steps.*; did you mean --steps\?/],
    ["train.ts", ["--steps", "ten"], /--steps must be a number, got "ten"/],
    ["train.ts", ["--out"], /--out needs a value/],
    ["train.ts", ["--quiet=yes"], /--quiet takes no value \(or =true \/ =false\)/],
    ["train.ts", [], /--preset and --data are required, e\.g\. --preset tiny --data foldoc/],
    ["train.ts", ["--preset", "tinyy", "--data", "foldoc"], /--preset tinyy: no such preset; use one of .*tiny.*; did you mean tiny\?/],
    ["train.ts", ["--preset", "tiny", "--data", "foldoc", "--steps", "0"], /--steps 0: use an integer ≥ 1/],
    ["train.ts", ["--preset", "tiny", "--data", "foldoc", "--seed", "1.5"], /--seed 1\.5: use an integer ≥ 0/],
    ["train.ts", ["--preset", "tiny", "--data", "foldoc", "--bpe-vocab", "259"], /--bpe-vocab 259: use an integer in \(259, 65536\]/],
    ["train.ts", ["--preset", "tiny", "--data", "foldoc", "--tokenizer", "bp"], /--tokenizer bp: use bytes or bpe/],
    // a config the command line makes invalid is refused before the backend starts or the data loads
    ["train.ts", ["--preset", "tiny", "--data", "foldoc", "--out", "/nonexistent/x", "--set", "model.blockLen=7"], /model\.blockLen = 7: L must divide[\s\S]*fix the value on the command line/],
    ["eval.ts", ["stray"], /unexpected argument "stray": flags look like --name value/],
    ["eval.ts", ["--out", "/nonexistent/run", "--all", "--tokens", "64"], /--all and --tokens 64 disagree: --all scores the whole split/],
    ["equivalence.ts", ["--T", "48", "--L", "5"], /--L 5 does not divide --T 48/],
    ["equivalence.ts", ["--cache", "maybe"], /--cache maybe: use on or off/],
    ["download-data.ts", ["enwik9"], /unknown dataset "enwik9"; use enwik8, pg19, imagenet64/],
    ["notebook.ts", ["x.ipynb", "--profile", "smok"], /--profile smok: use smoke, default or long/],
    ["sweep.ts", ["x.ipynb", "--timeout", "soon"], /--timeout must be a number, got "soon"/],
  ];
  for (const [script, args, message] of cases) {
    const r = ts(script, args);
    assert.equal(r.status, 2, `${script} ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^backend: /m, `${script} ${args.join(" ")}: refused before the backend starts`);
    assert.match(r.stderr, message, `${script} ${args.join(" ")}`);
    assert.match(r.stderr, /usage: /, `${script} ${args.join(" ")} prints the usage line`);
  }
});

test("parseFlags: kinds, repeatable lists, --name=value, booleans with =true/=false", () => {
  const spec = {
    out: { kind: "string" as const, help: "run folder" },
    steps: { kind: "number" as const, help: "updates" },
    quiet: { kind: "boolean" as const, help: "no progress" },
    isolate: { kind: "boolean" as const, help: "one process per point" },
    set: { kind: "list" as const, help: "overrides" },
  };
  assert.deepEqual(parseFlags(["--out", "runs/x", "--steps=24", "--quiet", "--isolate=false", "--set", "a.b=1", "--set=c.d=2"], spec),
    { out: "runs/x", steps: 24, quiet: true, isolate: false, set: ["a.b=1", "c.d=2"] });
  assert.deepEqual(parseFlags([], spec), { out: undefined, steps: undefined, quiet: undefined, isolate: undefined, set: [] });
  assert.equal(parseFlags(["--steps", "1e3"], spec).steps, 1000);
  assert.equal(parseFlags(["--out=-dash"], spec).out, "-dash");
  assert.throws(() => parseFlags(["--bogus"], spec), (e: unknown) => e instanceof UsageError && /unknown flag --bogus; known flags: --out, --steps/.test(e.message));
  assert.throws(() => parseFlags(["--steps", ""], spec), /--steps must be a number, got ""/);
  assert.throws(() => parseFlags(["--out", "--quiet"], spec), /--out needs a value: .*written --out=<value>/);
  assert.throws(() => parseFlags(["x"], spec), /unexpected argument "x"/);
  const p = parseFlagsAndPositionals(["nb.ipynb", "--out", "o", "more"], spec, true);
  assert.deepEqual([p.positionals, p.flags.out], [["nb.ipynb", "more"], "o"]);
});

test("helpText: usage line, every flag with its meaning and default, positionals, notes, examples", () => {
  const cmd: CommandSpec = {
    command: "npm run demo",
    args: "<file> [--level N]",
    summary: "Does a demo.",
    positionals: [{ name: "<file>", help: "the input" }],
    flags: { level: { kind: "number", help: "how much", default: "3" }, tag: { kind: "list", value: "K=V", help: "labels" } },
    examples: ["npm run demo -- a.txt --level 2"],
    notes: ["exit codes: 0 ok"],
  };
  const h = helpText(cmd);
  assert.match(h, /^usage: npm run demo -- <file> \[--level N\]\n\nDoes a demo\./);
  assert.match(h, /arguments:\n {2}<file> +the input/);
  assert.match(h, /--level N +how much \(default: 3\)/);
  assert.match(h, /--tag K=V +labels \(repeatable\)/);
  assert.match(h, /-h, --help +print this help and exit/);
  assert.match(h, /exit codes: 0 ok\n\nexample:\n {2}npm run demo -- a\.txt --level 2$/);
});

test("closestChoice: a prefix either way or a small edit distance, else nothing", () => {
  const presets = ["paper-enwik8", "paper-pg19", "tiny", "cpu-small"];
  assert.equal(closestChoice("tinyy", presets), "tiny");
  assert.equal(closestChoice("TINY", presets), "tiny");
  assert.equal(closestChoice("cpu-smal", presets), "cpu-small");
  assert.equal(closestChoice("paper-pg91", presets), "paper-pg19");
  assert.equal(closestChoice("gpt", presets), undefined);
  assert.equal(closestChoice("foldocc", ["enwik8", "foldoc", "gcide"]), "foldoc");
});
