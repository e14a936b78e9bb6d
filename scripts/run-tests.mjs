// Runs every test/**/*.test.ts with Node's own test runner (TypeScript through tsx), then prints the 15 slowest
// tests (top-level tests, by the runner's own duration), so a slow test shows up in every CI log.
// Usage: node scripts/run-tests.mjs [filter-substring ...]   (TVQ_TEST_JOBS=N files at a time, default 2)
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";

const SLOWEST = 15;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}
const USAGE = `usage: npm run test:unit -- [FILTER ...]   (or: node scripts/run-tests.mjs [FILTER ...])

Runs test/**/*.test.ts with Node's test runner (TypeScript through tsx), TVQ_TEST_JOBS files at a time (default 2).

arguments:
  FILTER       run only the test files whose path contains one of these substrings (default: every test file)

flags:
  -h, --help   print this help and exit

environment:
  TVQ_TEST_JOBS=N   test files run at once (default 2; 1 runs them one by one)

example:
  npm run test:unit -- vq.test attention.test`;
const filters = process.argv.slice(2);
if (filters.includes("--help") || filters.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const flag = filters.find((f) => f.startsWith("-"));
if (flag) {
  console.error(`error: unknown flag ${flag}: the arguments are test-file filters (substrings of test/**/*.test.ts paths), e.g. vq.test\n${USAGE.split("\n")[0]}`);
  process.exit(2);
}
const files = walk("test").sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
// TAP on stdout (what scripts/test.sh counts), passed through line by line as it comes.
// Test files run TVQ_TEST_JOBS at a time (default 2: most of their time is one core's, starting tsx, tslab compiling
// lib/ or a child process; on 2 cores two files overlap well). TVQ_TEST_JOBS=1 runs them one by one.
const jobs = Number(process.env.TVQ_TEST_JOBS ?? 2);
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`error: TVQ_TEST_JOBS=${process.env.TVQ_TEST_JOBS} must be an integer >= 1 (test files run at once)`);
  process.exit(2);
}
const child = spawn(process.execPath, ["--import", "tsx", "--test", `--test-concurrency=${jobs}`, "--test-reporter=tap", ...files],
  { stdio: ["ignore", "pipe", "inherit"] });
const durations = [];
let pending;
let rest = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const lines = (rest + chunk.toString("utf8")).split("\n");
  rest = lines.pop() ?? "";
  for (const line of lines) {
    // A top-level result is unindented: "ok 12 - name" / "not ok 12 - name"; its YAML block follows indented.
    const m = /^(?:not )?ok \d+ - (.*)$/.exec(line);
    if (m) pending = m[1];
    const d = /^ {2}duration_ms: ([\d.]+)/.exec(line);
    if (d && pending !== undefined) {
      durations.push({ name: pending, ms: Number(d[1]) });
      pending = undefined;
    }
  }
});
child.on("close", (code, signal) => {
  // Per-file wrappers (the runner's own "test/x.test.ts" entries) are not tests.
  const tests = durations.filter((t) => !/\.test\.ts$/.test(t.name)).sort((a, b) => b.ms - a.ms).slice(0, SLOWEST);
  if (tests.length) {
    console.log(`# the ${tests.length} slowest tests:`);
    for (const t of tests) console.log(`#   ${(t.ms / 1000).toFixed(1).padStart(6)} s  ${t.name}`);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
