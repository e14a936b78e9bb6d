/**
 * Facts about the GPU backend that need no TensorFlow: whether its build (@tensorflow/tfjs-node-gpu, made by
 * scripts/setup-gpu.sh) is installed, and whether the machine shows an NVIDIA GPU to this process.
 *
 * The visibility check reads the NVIDIA driver's own files, without loading the 1 GB CUDA build of libtensorflow:
 * a GPU counts as visible when a /dev/nvidia<N> device node exists (containers without GPU access have none, even
 * when /proc shows the host's driver) and CUDA_VISIBLE_DEVICES does not hide every device; the names come from
 * /proc/driver/nvidia/gpus/<pci id>/information ("Model:"). It decides the automatic order only. Whether
 * TensorFlow really computes on a GPU is asked from TensorFlow itself once the build is loaded (the binding's
 * isUsingGpuDevice(), which lists TensorFlow's devices with TFE_ContextListDevices), see backend.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface GpuVisibility {
  /** true when at least one NVIDIA GPU is usable by this process */
  visible: boolean;
  /** model names the driver reports, in PCI order (may be empty even when visible) */
  names: string[];
  /** when not visible: why, in words; when visible: "" */
  reason: string;
}

/** Where the driver lists its GPUs and device nodes; parameters so tests can point them at a fixture folder. */
export interface GpuProbePaths {
  proc: string;
  dev: string;
}

const SYSTEM: GpuProbePaths = { proc: "/proc/driver/nvidia/gpus", dev: "/dev" };

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The NVIDIA GPUs this process can see (see the module comment for the rules). */
export function visibleGpus(env: NodeJS.ProcessEnv = process.env, paths: GpuProbePaths = SYSTEM): GpuVisibility {
  const nodes = listDir(paths.dev).filter((n) => /^nvidia\d+$/.test(n));
  const names = listDir(paths.proc).flatMap((id) => {
    let text = "";
    try {
      text = fs.readFileSync(path.join(paths.proc, id, "information"), "utf8");
    } catch {
      return [];
    }
    const m = /^Model:\s*(.+?)\s*$/m.exec(text);
    return m ? [m[1]] : [];
  });
  if (nodes.length === 0) {
    const driver = names.length ? `the driver lists ${names.join(", ")} but ` : "";
    return { visible: false, names, reason: `${driver}no ${path.join(paths.dev, "nvidia<N>")} device: no NVIDIA GPU or driver here, or no GPU access for this container` };
  }
  const cvd = env.CUDA_VISIBLE_DEVICES;
  // CUDA stops at the first entry that is not a valid device: "" or "-1" first hides them all.
  if (cvd !== undefined && (cvd.trim() === "" || cvd.split(",")[0].trim() === "-1")) {
    return { visible: false, names, reason: `CUDA_VISIBLE_DEVICES=${JSON.stringify(cvd)} hides every GPU` };
  }
  return { visible: true, names, reason: "" };
}

/**
 * True when @tensorflow/tfjs-node-gpu and its compiled binding are installed (scripts/setup-gpu.sh made them);
 * `npm ci` removes the package, and setup-gpu.sh re-creates it.
 */
export function gpuBuildInstalled(): boolean {
  try {
    const pkg = path.dirname(require.resolve("@tensorflow/tfjs-node-gpu/package.json"));
    return fs.existsSync(path.join(pkg, "lib", "napi-v8", "tfjs_binding.node"));
  } catch {
    return false;
  }
}
