// The repository's own documentation stays true to the repository: every relative markdown link resolves, every
// repository path cited in backticks (in markdown, notebook markdown cells, and comments of lib/ and scripts/)
// exists, and nothing points outside the repository to notes that users do not have.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");

/** Files of the repository: tracked, plus new files that are not ignored (so a test run before a commit sees them). */
function repoPaths(): string[] {
  const r = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 0, `git ls-files failed: ${r.stderr}`);
  return [...new Set(r.stdout.split("\0").filter(Boolean))].filter((f) => fs.lstatSync(path.join(REPO, f), { throwIfNoEntry: false })).sort();
}

const PATHS = repoPaths();
/** The regular files among them (a symlink such as notebooks/lib -> ../lib is listed, but not read). */
const FILES = PATHS.filter((f) => fs.lstatSync(path.join(REPO, f)).isFile());
const FILE_SET = new Set(PATHS);
/** Every folder that holds a repository file ("lib", "lib/nn", ...). */
const DIRS = new Set(PATHS.flatMap((f) => f.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))));

/** Outputs that runs and setup create; a clean checkout does not have them, so citing them is fine. */
const GENERATED = ["figures/", "results/", "runs/", "notebooks/executed/", "data/cache/", "test/artifacts/", ".native/", ".venv/", ".jupyter/", "node_modules/"];
/** Folders setup creates (empty in a clean checkout). */
const CREATED_BY_SETUP = new Set(["data", "data/"]);
/** Prefixes that make a backticked token a repository path. */
const REPO_PATH = /^(?:lib|scripts|test|docs|notebooks|data|\.ci)\/[A-Za-z0-9._/-]*$/;

/** Whether `rel` (relative to the repository root, "/"-separated) is a file or folder of the repository. */
function existsInRepo(rel: string): boolean {
  const p = path.posix.normalize(rel).replace(/\/$/, "");
  return p === "" || p === "." || FILE_SET.has(p) || DIRS.has(p);
}

function isGenerated(rel: string): boolean {
  const p = path.posix.normalize(rel);
  return GENERATED.some((g) => p === g.slice(0, -1) || p.startsWith(g)) || CREATED_BY_SETUP.has(p) || CREATED_BY_SETUP.has(rel);
}

/** One piece of documentation: where it is, and its text. */
interface Doc {
  file: string;
  /** what to call it in a failure ("README.md", "notebooks/01-enwik8.ipynb cell 3") */
  where: string;
  text: string;
}

function read(file: string): string {
  return fs.readFileSync(path.join(REPO, file), "utf8");
}

function markdownFiles(): Doc[] {
  return FILES.filter((f) => f.endsWith(".md")).map((f) => ({ file: f, where: f, text: read(f) }));
}

function notebookMarkdown(): Doc[] {
  return FILES.filter((f) => /^notebooks\/[^/]+\.ipynb$/.test(f)).flatMap((f) => {
    const nb = JSON.parse(read(f)) as { cells: Array<{ cell_type: string; source: string | string[] }> };
    return nb.cells.flatMap((c, i) => c.cell_type === "markdown"
      ? [{ file: f, where: `${f} cell ${i}`, text: Array.isArray(c.source) ? c.source.join("") : c.source }] : []);
  });
}

/** The comments of a source file: // and /* *\/ for TypeScript and JavaScript; # and docstrings for shell and Python. */
function comments(file: string, text: string): string {
  if (/\.(ts|mjs|js)$/.test(file)) {
    const block = text.match(/\/\*[\s\S]*?\*\//g) ?? [];
    const line = [...text.matchAll(/(?:^|[^:"'`\\/])\/\/(.*)$/gm)].map((m) => m[1]);
    return [...block, ...line].join("\n");
  }
  if (/\.(sh|py)$/.test(file) || !path.basename(file).includes(".")) {
    const hash = [...text.matchAll(/(?:^|\s)#(.*)$/gm)].map((m) => m[1]);
    const doc = file.endsWith(".py") ? text.match(/"""[\s\S]*?"""/g) ?? [] : [];
    return [...hash, ...doc].join("\n");
  }
  return "";
}

function sourceComments(): Doc[] {
  return FILES.filter((f) => /^(lib|scripts)\//.test(f) && /\.(ts|mjs|js|sh|py)$/.test(f))
    .map((f) => ({ file: f, where: f, text: comments(f, read(f)) }));
}

/** Markdown without fenced code blocks and inline code (links inside code are not links). */
function withoutCode(md: string): string {
  return md.replace(/^(```|~~~)[\s\S]*?^\1/gm, "").replace(/`[^`\n]*`/g, "");
}

/** 1-based line of `index` in `text`. */
function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

test("every relative markdown link in *.md and notebook markdown resolves to a file of the repository", () => {
  const broken: string[] = [];
  for (const d of [...markdownFiles(), ...notebookMarkdown()]) {
    const text = withoutCode(d.text);
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+["'][^)]*["'])?\s*\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue; // URLs, mailto:, anchors
      const file = decodeURIComponent(target.split("#")[0].split("?")[0]);
      if (file === "") continue;
      const rel = path.posix.normalize(path.posix.join(path.posix.dirname(d.file), file));
      if (rel.startsWith("../")) {
        broken.push(`${d.where}: [..](${target}) points outside the repository`);
        continue;
      }
      // notebooks/lib is a symlink to ../lib: a link through it is a link into lib/
      const real = rel.replace(/^notebooks\/lib\//, "lib/");
      if (isGenerated(real)) continue;
      if (!existsInRepo(real)) broken.push(`${d.where}: [..](${target}) → ${real} does not exist`);
    }
  }
  assert.deepEqual(broken, [], `broken links:\n  ${broken.join("\n  ")}`);
});

/** Repository paths cited in backticks in `d`: tokens of each `code span` that start with a repository folder. */
function citedPaths(d: Doc): Array<{ token: string; line: number }> {
  const out: Array<{ token: string; line: number }> = [];
  for (const m of d.text.matchAll(/`([^`\n]+)`/g)) {
    for (const raw of m[1].split(/[\s,;()"'=]+/)) {
      const token = raw.replace(/[.:,;]+$/, "").replace(/:\d+(?::\d+)?$/, ""); // trailing punctuation, :line
      if (!REPO_PATH.test(token)) continue;
      if (/[<>*?{}[\]$…]|\.\.\./.test(raw)) continue; // placeholders, globs, brace lists
      out.push({ token, line: lineOf(d.text, m.index ?? 0) });
    }
  }
  return out;
}

test("every repository path cited in backticks (markdown, notebook markdown, comments of lib/ and scripts/) exists", () => {
  const missing: string[] = [];
  for (const d of [...markdownFiles(), ...notebookMarkdown(), ...sourceComments()]) {
    for (const { token, line } of citedPaths(d)) {
      const rel = token.replace(/^notebooks\/lib\//, "lib/");
      if (isGenerated(rel) || existsInRepo(rel)) continue;
      missing.push(`${d.where}${d.where === d.file ? ` (line ${line} of the ${d.file.endsWith(".md") ? "file" : "comments"})` : ""}: \`${token}\``);
    }
  }
  assert.deepEqual(missing, [], `cited paths that do not exist:\n  ${missing.join("\n  ")}`);
});

test("citedPaths takes repository paths out of code spans and leaves placeholders, globs and other words alone", () => {
  const doc = (text: string): Doc => ({ file: "x.md", where: "x.md", text });
  const tokens = (text: string) => citedPaths(doc(text)).map((c) => c.token);
  assert.deepEqual(tokens("see `lib/nn/vq.ts`, `bash scripts/setup.sh --force` and `npm run x -- notebooks/01-enwik8.ipynb`."),
    ["lib/nn/vq.ts", "scripts/setup.sh", "notebooks/01-enwik8.ipynb"]);
  assert.deepEqual(tokens("`results/<notebook>.{csv,jsonl}` `test/**/*.test.ts` `lib/nn/` `libs/x.ts` `vq.ts` lib/not-in-backticks.ts"),
    ["lib/nn/"]);
  assert.deepEqual(tokens("`lib/nn/vq.ts:42` `docs/paper.md`."), ["lib/nn/vq.ts", "docs/paper.md"]);
  assert.ok(isGenerated("figures/01-enwik8.png") && isGenerated("notebooks/executed/x.ipynb") && isGenerated("data/cache/foldoc.bytes"));
  assert.ok(!isGenerated("lib/nn/vq.ts"));
});

test("nothing in the repository points to notes outside it (the parent folder's shared notes)", () => {
  // built from pieces so that this file does not match itself
  const needles = [["..", "shared"].join("/"), ["shared", "paper.md"].join("/")];
  const hits: string[] = [];
  for (const f of FILES) {
    const buf = fs.readFileSync(path.join(REPO, f));
    if (buf.includes(0)) continue; // binary
    const text = buf.toString("utf8");
    for (const n of needles) {
      let i = text.indexOf(n);
      while (i >= 0) {
        hits.push(`${f}:${lineOf(text, i)}: ${n}`);
        i = text.indexOf(n, i + 1);
      }
    }
  }
  assert.deepEqual(hits, [], `references to notes outside the repository:\n  ${hits.join("\n  ")}`);
});
