"""Executes one notebook headlessly with the tslab kernel (nbclient), with papermill-style parameters.

Run it through `npm run notebook -- <notebook.ipynb> [--profile smoke|default] [--param k=v ...] [--out path]
[--timeout s]` (scripts/notebook.ts), which uses the project venv and the hermetic Jupyter folders of scripts/env.sh.

What it adds to plain `jupyter nbconvert --execute`, each for a trap of tslab:
- Parameters: after the cell tagged `parameters` it inserts a cell tagged `injected-parameters` that assigns the
  given values as TypeScript (`profile = "smoke";`); the parameters cell declares them with `let`. Values are
  parsed as JSON when they parse (numbers, booleans, arrays), else taken as strings. `profile` is always injected,
  and the kernel also gets it as the environment variable TVQ_PROFILE.
- Real errors: tslab replies to a failing cell with no ename/evalue/traceback; the error text is only in the cell's
  stderr stream. On failure this prints the cell's index, the head of its source and that stderr text, saves the
  executed copy, and exits 1. A reply with status "abort" (tslab drops requests queued within 200 ms of an error)
  is a failure too, so no cell is skipped silently.
- Errors outside cells: an unhandled promise rejection or an exception thrown in a timer is not attributed to any
  cell by tslab. A hidden first cell installs process handlers that append such errors to a marker file; the runner
  checks the file after every cell and once more at the end (after a short pause for pending timers).
- A per-cell timeout (default 1800 s) and a kernel working directory equal to the notebook's folder (as in
  JupyterLab). The executed copy (default <notebook folder>/executed/<name>.ipynb) is written atomically, also
  when the run fails; the hidden cells are removed from it.
- A failed rerun never overwrites the last good executed copy: when the copy there is from a run that passed, the
  failed run is written beside it as <name>.failed.ipynb (and the message says which file is which); a run that
  passes removes a stale <name>.failed.ipynb.
- Clean outputs: after the run it scans the outputs (`output_problems`) for what a reader should never see: a raw
  object dump (`[object Object]`, `{ html: '...' }` as console.log or a cell's last value prints it), the same text
  twice in one cell's outputs (a table and a log line repeating it), and text tables wider than 120 columns. The
  problems are printed as warnings; with --strict-outputs (scripts/test.sh passes it for the smoke runs) they fail
  the run. `--check-only` checks an executed copy without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

HIDDEN_TAG = "runner-hidden"
INJECTED_TAG = "injected-parameters"
IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

# Installed before the first cell. Writes one JSON line per error that no cell caught to $TVQ_RUNNER_ERRORS.
SETUP_CELL = r"""
{
  const __tvqFs = require("fs");
  const __tvqMarker = process.env.TVQ_RUNNER_ERRORS;
  const __tvqRecord = (kind: string, err: unknown) => {
    const text = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    if (__tvqMarker) __tvqFs.appendFileSync(__tvqMarker, JSON.stringify({ kind, text }) + "\n");
  };
  process.on("unhandledRejection", (reason: unknown) => __tvqRecord("unhandled promise rejection", reason));
  process.on("uncaughtException", (err: unknown) => __tvqRecord("uncaught exception (e.g. thrown in a timer)", err));
}
""".strip()

# Runs after the last cell: gives already-due timers and rejections a moment to surface.
TEARDOWN_CELL = "await new Promise((resolve) => setTimeout(resolve, 250));"


class RunFailed(Exception):
    """A failure to report: message for the user, exit status 1."""


class StrictClient(NotebookClient):
    """NotebookClient that also treats an "abort" reply as a failure (nbclient counts it as success)."""

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):  # type: ignore[override]
        if exec_reply is not None and exec_reply["content"].get("status") == "abort":
            raise CellExecutionError(
                "the kernel aborted this cell (tslab drops requests queued right after an error)", "Aborted", ""
            )
        await super()._check_raise_for_error(cell, cell_index, exec_reply)


def parse_value(text: str):
    """A --param value: JSON when it parses (5, 0.1, true, [1,2], "x"), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(pairs: list[str], profile: str) -> dict:
    params: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise RunFailed(f"--param {pair!r} is not of the form name=value (e.g. --param steps=100)")
        name, value = pair.split("=", 1)
        name = name.strip()
        if not IDENT.match(name):
            raise RunFailed(f"--param name {name!r} is not a TypeScript identifier")
        params[name] = parse_value(value)
    if "profile" in params and params["profile"] != profile:
        raise RunFailed("give the profile with --profile, not --param profile=...")
    params["profile"] = profile
    return params


def tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def source_head(cell, lines: int = 4) -> str:
    src = cell.source.splitlines()
    head = "\n".join("    " + line for line in src[:lines])
    return head + ("\n    ..." if len(src) > lines else "")


def inject_parameters(nb, params: dict) -> int | None:
    """Inserts the injected-parameters cell after the `parameters` cell; returns the parameters cell's index."""
    idx = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and tagged(c, "parameters")), None)
    explicit = [k for k in params if k != "profile"]
    if idx is None:
        if explicit:
            raise RunFailed(
                f"parameters {explicit} were given but the notebook has no cell tagged 'parameters'; "
                "tag the cell that declares them (`let name = default;`) with 'parameters'"
            )
        return None
    declared = nb.cells[idx].source
    missing = [k for k in params if not re.search(rf"\b(?:let|var)\s+{re.escape(k)}\b", declared)]
    if missing:
        raise RunFailed(
            f"the parameters cell (cell {idx}) does not declare {missing} with `let`; add e.g. "
            f"`let {missing[0]} = {json.dumps(params[missing[0]])};` to it so that the runner can assign it"
        )
    lines = ["// Injected by scripts/run_notebook.py"] + [f"{k} = {json.dumps(v)};" for k, v in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    nb.cells.insert(idx + 1, cell)
    return idx


def hidden_cell(source: str):
    return nbformat.v4.new_code_cell(source, metadata={"tags": [HIDDEN_TAG]})


def kernel_exit(client) -> str:
    """How the kernel process ended, for a failure message ("" when it cannot be told)."""
    try:
        proc = client.km.provisioner.process
        rc = proc.poll() if proc is not None else None
    except Exception:  # an older jupyter_client, or no local process
        return ""
    if rc is None:
        return "the kernel process is still running: the cell was interrupted, the kernel did not crash"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        why = {"SIGKILL": "the out-of-memory killer, a container memory limit, or a kill -9",
               "SIGSEGV": "a crash in native code (the TensorFlow binding)",
               "SIGABRT": "an abort: Node out of JavaScript heap, or a failed TensorFlow check; its message, if any, is in the output above"}
        return f"the kernel process was killed by {name}" + (f" ({why[name]})" if name in why else "")
    return f"the kernel process exited with code {rc} (its message, if any, is in the output above)"


def stream_text(cell, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == name)


def read_marker(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append({"kind": "error", "text": line})
    return out


def write_atomic(nb, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.replace(tmp, out)


def failed_path(out: Path) -> Path:
    """Where a failed run goes when `out` holds a good one: <name>.failed.ipynb beside it."""
    stem = out.name[: -len(".ipynb")] if out.name.endswith(".ipynb") else out.name
    return out.with_name(stem + ".failed.ipynb")


def holds_good_run(out: Path) -> bool:
    """Whether `out` is an executed copy of a run that passed (copies from before the status was recorded count)."""
    if not out.is_file():
        return False
    try:
        meta = json.loads(out.read_text(encoding="utf-8")).get("metadata", {}).get("tvq_runner", {})
    except (OSError, ValueError):
        return False  # unreadable: nothing worth keeping
    return meta.get("status", "ok") != "failed"


# ---------------------------------------------------------------------------------------------------------------
# Output checks: what a reader of an executed notebook should never see.

TEXT_TABLE_WIDTH = 120  # lib/notebook/tables.ts TEXT_TABLE_WIDTH
DUPLICATE_MIN_CHARS = 40  # shorter repeats (a run name, a unit) are normal
RAW_OBJECT = re.compile(r"(?:^|\n)\s*(?:[A-Z][\w$]* )?\{\s*\n?\s*['\"]?[A-Za-z_$][\w$]*['\"]?: (?!\d+[,}])")
TABLE_RULE = re.compile(r"^-+(?:  -+)*$")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def visible_texts(cell) -> list[tuple[str, str]]:
    """(kind, text) per output of a cell, as a text reader sees it: stream text, or a display's text/plain."""
    out = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            out.append((f"{o.get('name', 'stream')} output", _text(o.get("text"))))
        elif kind in ("display_data", "execute_result"):
            data = o.get("data", {})
            out.append(("displayed value" if kind == "execute_result" else "display", _text(data.get("text/plain"))))
            if "[object Object]" in _text(data.get("text/html")):
                out.append(("display (HTML)", "[object Object]"))
    return out


def _segments(text: str) -> list[str]:
    """Pieces of text a repeat is looked for in: lines, split again at table column gaps (2+ spaces)."""
    return [" ".join(p.split()) for line in text.splitlines() for p in re.split(r" {2,}", line) if len(p.strip()) >= DUPLICATE_MIN_CHARS]


def output_problems(nb, labels: list[str] | None = None) -> list[str]:
    """Problems in a notebook's outputs, one message per problem naming the cell (labels: cell names by index)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or tagged(cell, HIDDEN_TAG):
            continue
        label = labels[index] if labels else f"cell {index}"
        texts = visible_texts(cell)
        for kind, text in texts:
            if "[object Object]" in text:
                problems.append(f"{label}: its {kind} shows '[object Object]' (print a string: String(x), or a formatted line)")
            m = RAW_OBJECT.search(text)
            if m:
                snippet = text[m.start():m.start() + 60].strip().replace("\n", " ")
                problems.append(f"{label}: its {kind} is a raw object dump ({snippet!r}...); print one readable line instead")
            lines = text.splitlines()
            for i, line in enumerate(lines):
                if TABLE_RULE.match(line) and len(line) > TEXT_TABLE_WIDTH:
                    problems.append(f"{label}: a text table {len(line)} columns wide (at most {TEXT_TABLE_WIDTH}): {lines[i - 1][:60].strip() if i else ''!r}...")
        flat = [" ".join(t.split()) for _, t in texts]
        reported = set()
        for a, (kind_a, text_a) in enumerate(texts):
            for seg in _segments(text_a):
                for b in range(len(texts)):
                    if b != a and seg in flat[b] and (min(a, b), max(a, b)) not in reported:
                        reported.add((min(a, b), max(a, b)))
                        problems.append(f"{label}: the same text is shown twice, in output {a + 1} ({kind_a}) and output {b + 1} "
                                        f"({texts[b][0]}): {seg[:80]!r}; show it once (a table or a line, not both)")
    return problems


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--profile", default="default", help="smoke (CI, seconds) or default (real runs)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--out", help="executed copy (default: <notebook folder>/executed/<name>.ipynb)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per cell (default 1800)")
    ap.add_argument("--kernel", default=None, help="kernel name (default: the notebook's, else tslab)")
    ap.add_argument("--strict-outputs", action="store_true", help="fail the run when output_problems finds any")
    ap.add_argument("--check-only", action="store_true", help="only check the outputs of this (executed) notebook")
    args = ap.parse_args(argv)

    if args.check_only:
        try:
            problems = output_problems(nbformat.read(args.notebook, as_version=4))
        except (OSError, ValueError) as e:
            print(f"notebook {args.notebook}: cannot read it ({e})", file=sys.stderr)
            return 2
        for p in problems:
            print(f"notebook {Path(args.notebook).name}: {p}", file=sys.stderr)
        return 1 if problems else 0

    src = Path(args.notebook).resolve()
    if not src.is_file():
        print(f"notebook: {args.notebook} does not exist", file=sys.stderr)
        return 2
    out = Path(args.out).resolve() if args.out else src.parent / "executed" / src.name
    name = src.name
    try:
        params = parse_params(args.param, args.profile)
        nb = nbformat.read(src, as_version=4)
        inject_parameters(nb, params)
    except (RunFailed, nbformat.reader.NotJSONError) as e:
        print(f"notebook {name}: {e}", file=sys.stderr)
        return 2

    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "tslab"
    if kernel not in ("tslab", "jslab"):
        print(f"notebook {name}: kernel {kernel!r} is not tslab; this runner executes TypeScript notebooks", file=sys.stderr)
        return 2
    # Name cells as the user sees them: their index in the source notebook (the injected cell has none).
    labels = []
    src_i = 0
    for c in nb.cells:
        if tagged(c, INJECTED_TAG):
            labels.append("the injected-parameters cell")
        else:
            labels.append(f"cell {src_i} of {name}")
            src_i += 1
    nb.cells = [hidden_cell(SETUP_CELL)] + list(nb.cells) + [hidden_cell(TEARDOWN_CELL)]
    labels = ["the runner's hidden setup cell"] + labels + ["the end of the run"]

    fd, marker_name = tempfile.mkstemp(prefix="tvq-runner-errors-", suffix=".jsonl")
    os.close(fd)
    marker = Path(marker_name)
    os.environ["TVQ_RUNNER_ERRORS"] = str(marker)
    os.environ["TVQ_PROFILE"] = args.profile

    client = StrictClient(
        nb,
        kernel_name=kernel,
        timeout=args.timeout,
        startup_timeout=180,
        resources={"metadata": {"path": str(src.parent)}},
    )
    t0 = time.time()
    failure: str | None = None
    code_count = 0
    prev_label = labels[0]
    print(f"notebook {name}: profile={args.profile} kernel={kernel} params={json.dumps(params)}", file=sys.stderr)
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                hidden = tagged(cell, HIDDEN_TAG)
                label = labels[index]
                if not hidden:
                    code_count += 1
                t = time.time()
                try:
                    client.execute_cell(cell, index, execution_count=None if hidden else code_count)
                except CellTimeoutError:
                    failure = f"{label} timed out after {args.timeout:g} s (raise it with --timeout)\n{source_head(cell)}"
                    break
                except CellExecutionError as e:
                    err = stream_text(cell, "stderr").strip()
                    if not err:  # tslab writes a cell's error to its stderr; none means the kernel died or was interrupted
                        ended = kernel_exit(client)
                        err = (str(e).strip() + "\n(the kernel sent no error message: it crashed or was interrupted"
                               + (f"; {ended}" if ended else "") + ". Rerun the "
                               "notebook: finished runs are reused and an interrupted run resumes from its last checkpoint)")
                    failure = f"{label} failed:\n{source_head(cell)}\n  error:\n" + "\n".join("    " + l for l in err.splitlines())
                    break
                except DeadKernelError as e:
                    ended = kernel_exit(client) or "out of memory, or process.exit() in the cell?"
                    failure = f"the kernel died during {label} ({e}); {ended}\n{source_head(cell)}"
                    break
                stray = read_marker(marker)
                if stray:
                    where = f"between the start of {prev_label} and the end of {label}"
                    texts = "\n".join(f"  {s['kind']}:\n" + "\n".join("    " + l for l in s["text"].splitlines()) for s in stray)
                    failure = f"an error no cell caught happened {where}:\n{texts}"
                    break
                if not hidden:
                    print(f"  {label}: ok in {time.time() - t:.1f} s", file=sys.stderr)
                prev_label = label
        if failure is None:
            problems = output_problems(nb, labels)
            for p in problems:
                print(f"notebook {name}: {'' if args.strict_outputs else 'warning: '}{p}", file=sys.stderr)
            if problems and args.strict_outputs:
                failure = f"{len(problems)} output problem(s) (listed above; --strict-outputs)"
    except RunFailed as e:
        failure = str(e)
    except Exception as e:  # kernel start failures and the like
        failure = f"{type(e).__name__}: {e}"
    finally:
        marker.unlink(missing_ok=True)
        nb.cells = [c for c in nb.cells if not tagged(c, HIDDEN_TAG)]
        nb.metadata["tvq_runner"] = {
            "source": str(src),
            "profile": args.profile,
            "parameters": params,
            "status": "failed" if failure else "ok",
            "seconds": round(time.time() - t0, 1),
        }
        # a failure must not destroy the last good copy (its outputs, figures and numbers): it goes beside it
        saved = failed_path(out) if failure and holds_good_run(out) else out
        write_atomic(nb, saved)
        if not failure:
            failed_path(out).unlink(missing_ok=True)  # a stale failure beside a good copy would mislead

    took = time.time() - t0
    if failure:
        print(f"notebook {name}: FAILED after {took:.1f} s: {failure}", file=sys.stderr)
        if saved != out:
            print(f"notebook {name}: executed copy of this failed run saved to {saved}; "
                  f"the last good run's copy {out} is kept", file=sys.stderr)
        else:
            print(f"notebook {name}: executed copy saved to {out}", file=sys.stderr)
        return 1
    print(f"notebook {name}: ok in {took:.1f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
