/**
 * The second half of graph execution (lib/runtime/graph.ts): a trace becomes a GraphDef (Placeholders for the
 * inputs and host inputs, Const for uploaded values, one NodeDef per op with tfjs-node's attributes translated),
 * wrapped in a SavedModel (tag "serve", no variables) that tfjs-node's `loadSavedModel` turns into a libtensorflow
 * session; `run` is one `runSavedModel`, i.e. one TF_SessionRun. The protocol buffer classes are tfjs-node's own
 * (dist/proto/api_pb.js, google-protobuf).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "./tf";
import type { Any, HostRecipe, NativeAttr, Traced } from "./graph";

export function nativeBackend(): Any {
  if (tf.getBackend() !== "tensorflow") {
    throw new Error(`graph execution needs the native backend (tfjs-node), but the backend is ${tf.getBackend()}: use TVQ_BACKEND=native (scripts/setup-native.sh builds it) or run eagerly`);
  }
  return tf.backend() as Any;
}

export function tfDtype(backend: Any, dtype: tf.DataType): number {
  const b = backend.binding;
  const code = { float32: b.TF_FLOAT, int32: b.TF_INT32, bool: b.TF_BOOL } as Record<string, number>;
  if (code[dtype] === undefined) throw new Error(`graph execution supports float32, int32 and bool tensors, not ${dtype}`);
  return code[dtype];
}

/** A traced function compiled into a libtensorflow session. */
export interface CompiledGraph {
  /** ops in the graph (before TensorFlow's own optimizations) */
  readonly nodeCount: number;
  /** the recipes of the host inputs, in the order `run` wants them */
  readonly hostRecipes: HostRecipe[];
  /** one session call: inputs as at trace time (same shapes and dtypes), host inputs in hostRecipes' order */
  run(inputs: tf.Tensor[], hostInputs?: tf.Tensor[]): tf.Tensor[];
  dispose(): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadProto = (): Any => require("@tensorflow/tfjs-node/dist/proto/api_pb.js");

function shapeProto(pb: Any, shape: number[]): Any {
  const s = new pb.TensorShape();
  s.setDimList(shape.map((d) => { const dim = new pb.TensorShape.Dim(); dim.setSize(d); return dim; }));
  return s;
}

function attrProto(pb: Any, b: Any, a: NativeAttr): Any {
  const v = new pb.AttrValue();
  if (Array.isArray(a.value)) {
    const l = new pb.AttrValue.ListValue();
    if (a.type === b.TF_ATTR_INT) l.setIList(a.value);
    else if (a.type === b.TF_ATTR_FLOAT) l.setFList(a.value);
    else if (a.type === b.TF_ATTR_BOOL) l.setBList(a.value);
    else if (a.type === b.TF_ATTR_TYPE) l.setTypeList(a.value);
    else throw new Error(`graph: attribute ${a.name} is a list of type ${a.type}, which the GraphDef writer does not handle`);
    v.setList(l);
  } else if (a.type === b.TF_ATTR_INT) v.setI(a.value);
  else if (a.type === b.TF_ATTR_FLOAT) v.setF(a.value);
  else if (a.type === b.TF_ATTR_BOOL) v.setB(a.value);
  else if (a.type === b.TF_ATTR_TYPE) v.setType(a.value);
  else if (a.type === b.TF_ATTR_STRING) v.setS(Buffer.from(String(a.value)));
  else if (a.type === b.TF_ATTR_SHAPE) v.setShape(shapeProto(pb, a.value as number[]));
  else throw new Error(`graph: attribute ${a.name} has type ${a.type}, which the GraphDef writer does not handle`);
  return v;
}

function typedAttr(pb: Any, set: (v: Any) => void): Any {
  const v = new pb.AttrValue();
  set(v);
  return v;
}

function graphDef(pb: Any, b: Any, t: Traced): Any {
  const out: Any[] = [];
  const placeholder = (name: string, dtype: number, shape: number[]) => {
    const nd = new pb.NodeDef();
    nd.setName(name);
    nd.setOp("Placeholder");
    nd.getAttrMap().set("dtype", typedAttr(pb, (v) => v.setType(dtype)));
    nd.getAttrMap().set("shape", typedAttr(pb, (v) => v.setShape(shapeProto(pb, shape))));
    out.push(nd);
  };
  t.inputSpecs.forEach((s, i) => placeholder(`in${i}`, s.dtype, s.shape));
  for (const h of t.trace.hosts) placeholder(h.name, h.dtype, h.shape);
  for (const n of t.trace.nodes) {
    const nd = new pb.NodeDef();
    nd.setName(n.name);
    nd.setOp(n.op);
    nd.setInputList(n.inputs);
    const attrs = nd.getAttrMap();
    if (n.value) {
      const c = n.value;
      const tensor = new pb.Tensor();
      tensor.setDtype(c.dtype);
      tensor.setTensorShape(shapeProto(pb, c.shape));
      tensor.setTensorContent(c.bytes);
      attrs.set("dtype", typedAttr(pb, (v) => v.setType(c.dtype)));
      attrs.set("value", typedAttr(pb, (v) => v.setTensor(tensor)));
    } else {
      for (const a of n.attrs) attrs.set(a.name, attrProto(pb, b, a));
    }
    out.push(nd);
  }
  const g = new pb.GraphDef();
  g.setNodeList(out);
  return g;
}

/** Loads a trace into a libtensorflow session (through a SavedModel in a temporary folder, removed after loading). */
export function compileGraph(t: Traced): CompiledGraph {
  const backend = nativeBackend();
  const pb = loadProto();
  const meta = new pb.MetaGraphDef();
  const info = new pb.MetaGraphDef.MetaInfoDef();
  info.setTagsList(["serve"]);
  meta.setMetaInfoDef(info);
  meta.setGraphDef(graphDef(pb, backend.binding, t));
  const model = new pb.SavedModel();
  model.setSavedModelSchemaVersion(1);
  model.setMetaGraphsList([meta]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tvq-graph-${process.pid}-`));
  let id: number;
  try {
    fs.writeFileSync(path.join(dir, "saved_model.pb"), model.serializeBinary());
    id = backend.loadSavedModelMetaGraph(dir, "serve");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const inputNames = [...t.inputSpecs.map((_, i) => `in${i}:0`), ...t.trace.hosts.map((h) => `${h.name}:0`)];
  const specs = [...t.inputSpecs, ...t.trace.hosts];
  let live = true;
  return {
    nodeCount: t.trace.nodes.length,
    hostRecipes: t.trace.hosts.map((h) => h.recipe),
    run(inputs: tf.Tensor[], hostInputs: tf.Tensor[] = []): tf.Tensor[] {
      if (!live) throw new Error("this graph was disposed");
      const all = [...inputs, ...hostInputs];
      if (all.length !== specs.length) throw new Error(`the graph takes ${t.inputSpecs.length} inputs and ${t.trace.hosts.length} host inputs, got ${inputs.length} and ${hostInputs.length}`);
      all.forEach((x, i) => {
        if (x.shape.join() !== specs[i].shape.join() || tfDtype(backend, x.dtype) !== specs[i].dtype) {
          throw new Error(`graph input ${inputNames[i]} is [${x.shape}] ${x.dtype}; the graph was traced with [${specs[i].shape}]: trace it again for this shape`);
        }
      });
      return backend.runSavedModel(id, all, inputNames.map((name) => ({ name })), t.outputNames) as tf.Tensor[];
    },
    dispose(): void {
      if (live) backend.deleteSavedModel(id);
      live = false;
    },
  };
}

