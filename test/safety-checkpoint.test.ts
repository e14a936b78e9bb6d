// Corrupt or missing checkpoint files (issue 11), the cases test/checkpoint.test.ts does not cover: every message
// names the file and the fix, and a damaged checkpoint/ never makes a resume start over silently.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { findCheckpoint, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint";

function savedRun(step = 1): string {
  const run = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-ckbad-"));
  const t = new Map<string, tf.Tensor>([["param/w", tf.ones([4, 4])], ["param/b", tf.zeros([4])]]);
  saveCheckpoint(run, step, getPreset("tiny"), t, {});
  t.forEach((x) => x.dispose());
  return run;
}

const manifestOf = (run: string) => path.join(run, "checkpoint", "manifest.json");
const editManifest = (run: string, f: (m: Record<string, any>) => void) => {
  const m = JSON.parse(fs.readFileSync(manifestOf(run), "utf8"));
  f(m);
  fs.writeFileSync(manifestOf(run), JSON.stringify(m));
};

test("a checkpoint/ missing blob.bin or manifest.json is found and named, not skipped (a resume would start over)", async () => {
  await initBackend(testBackend());
  const a = savedRun();
  fs.rmSync(path.join(a, "checkpoint", "blob.bin"));
  const dir = findCheckpoint(a);
  assert.equal(dir, path.join(a, "checkpoint"));
  assert.throws(() => loadCheckpoint(dir!), /checkpoint .*checkpoint is corrupt \(blob\.bin is missing\)\. Delete that folder .*fresh --out/);

  const b = savedRun();
  fs.rmSync(manifestOf(b));
  assert.throws(() => loadCheckpoint(findCheckpoint(b)!), /is corrupt \(manifest\.json is missing\)\. Delete that folder/);
});

test("a damaged checkpoint/ with a complete checkpoint.old/ beside it: the old one is used, and the message names it", async () => {
  await initBackend(testBackend());
  const run = savedRun(3);
  fs.cpSync(path.join(run, "checkpoint"), path.join(run, "checkpoint.old"), { recursive: true });
  fs.writeFileSync(manifestOf(run), "{\"format\": ");
  assert.throws(() => loadCheckpoint(path.join(run, "checkpoint")),
    new RegExp(`manifest\\.json is not valid JSON .*the file is corrupt\\)\\. Delete that folder to fall back to the previous checkpoint ${path.join(run, "checkpoint.old").replace(/[.]/g, "\\.")}`));
  fs.rmSync(path.join(run, "checkpoint", "blob.bin"));
  assert.equal(loadCheckpoint(findCheckpoint(run)!).manifest.step, 3, "the complete checkpoint.old is found");
});

test("a valid JSON manifest of another format, a wrong blob size and an entry past the blob name the file and the fix", async () => {
  await initBackend(testBackend());
  const a = savedRun();
  editManifest(a, (m) => { m.format = "something-else"; });
  assert.throws(() => loadCheckpoint(path.join(a, "checkpoint")), /is corrupt \(manifest\.json is not a tvq-checkpoint-1 manifest\).*fresh --out/);

  const b = savedRun();
  fs.appendFileSync(path.join(b, "checkpoint", "blob.bin"), Buffer.alloc(8));
  assert.throws(() => loadCheckpoint(path.join(b, "checkpoint")), /blob\.bin has 88 bytes, the manifest says 80.*Delete that folder/);

  const c = savedRun();
  editManifest(c, (m) => { m.tensors[1].offset = 72; });
  assert.throws(() => loadCheckpoint(path.join(c, "checkpoint")), /is corrupt \(entry param\/b \(shape \[4\], float32, offset 72, 16 bytes\) does not fit the blob\).*fresh --out/);
});
