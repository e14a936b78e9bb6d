// Which backend a test runs on. Unit tests default to cpu (the reference, and bitwise deterministic); CI reruns the
// core suites with TVQ_BACKEND=native and TVQ_BACKEND=wasm forced (issue 7), and cross-backend tests cover all
// backends that load when nothing is forced.
import { BackendName, nativeAvailable, requestedBackend } from "../../lib/runtime/backend";

/** The backend of a single-backend test: TVQ_BACKEND when set, else cpu. */
export function testBackend(): BackendName {
  return requestedBackend() ?? "cpu";
}

/** The backends of a cross-backend test: the forced one only, else cpu, wasm and (when its binding is built) native. */
export function testBackends(): BackendName[] {
  const forced = requestedBackend();
  if (forced) return [forced];
  return nativeAvailable() ? ["cpu", "wasm", "native"] : ["cpu", "wasm"];
}
