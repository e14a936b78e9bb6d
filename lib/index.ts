/**
 * The kit's one typed entry. Notebooks `import * as tvq from "./lib/index"` (notebooks/lib links to ../lib; tslab
 * resolves neither a bare folder import nor "../lib"), scripts import from "../lib/index".
 *
 * One namespace per folder, in the order of the architecture (each imports only the ones above it; util/ is
 * used by all): `tvq.nn.quantize`, `tvq.train.trainRun`, `tvq.experiments.runExperiment`. The names notebooks use
 * most, and the model API of the kit before the folder split, are also exported flat: `tvq.getPreset`, `tvq.forward`.
 */
export * as runtime from "./runtime/index";
export * as nn from "./nn/index";
export * as config from "./config";
export * as train from "./train/index";
export * as data from "./data/index";
export * as experiments from "./experiments/index";
export * as notebook from "./notebook/index";
export * as util from "./util/index";

// The names notebooks use most, flat.
export { describeBackend, initBackend } from "./runtime/backend";
export { countParamsOf, createModel, disposeModel } from "./nn/params";
// The model API scripts outside the kit use (forward pass, recurrent state, checkpoints, scoring), flat as before the
// folder split, so `tvq.forward` keeps working beside `tvq.nn.forward`.
export { forward } from "./nn/model";
export { disposeState, initState, replaceState, tidyWithState } from "./nn/state";
export { emaUpdate } from "./nn/vq";
export { loadCheckpoint } from "./train/checkpoint";
export { loadRunModel } from "./train/run-folder";
export { maskedNLLSum, windowNLL } from "./train/evaluate";
export { getPreset, mergeOverrides } from "./config";
export type { AttnType, Config, HeadType } from "./config";
export { describeDataset, loadDataset } from "./data/datasets";
export type { LoadOptions } from "./data/datasets";
export { decodeImage, imageGridPNG } from "./data/image";
export { decodeText, encodeText } from "./data/vocab";
export { ABLATION_BASES, ablationConfig, ablationMatch, ablationRows, ablationSettings, ablationSpec, checkTrend, customizeBase, latestRows, metricValues, runAblation, settingRange, summarizeAblation } from "./experiments/ablation";
export type { AblationChoice, AblationRun, AblationSetting, TrendCheck } from "./experiments/ablation";
export { attentionCostSweep } from "./experiments/cost";
export type { AttentionCostRow } from "./experiments/cost";
export { environmentVersions, matmulPeak, measureMatmulPeak } from "./experiments/environment";
export { equivalenceProblems, equivalenceRows, runEquivalence } from "./experiments/equivalence";
export { codebookFit, probeText } from "./experiments/inspect";
export { paperComparison, paperReference } from "./experiments/paper";
export { RECALL_BASES, RECALL_EDGES, RECALL_EXPERIMENT, RECALL_SECTION_STEPS, RECALL_VARIANTS, beyondWindowVsChance, runRecallAblation, readRecallRecords, recallAccuracy, recallMetrics, windowAccuracy } from "./experiments/recall";
export type { RecallAblation, RecallBase, RecallRecord } from "./experiments/recall";
export { describeEpisode, recallEpisode } from "./data/recall";
export type { RecallTask } from "./data/recall";
export { appendResult, loadResults } from "./experiments/results";
export type { ResultRow } from "./experiments/results";
export { loadDatasetOnce, runExperiment } from "./experiments/run";
export type { ExperimentResult, ExperimentSpec } from "./experiments/run";
export type { ExperimentRow } from "./experiments/row";
export {
  benchRunTitle, benchSummaryLines, describeRow, efficiencyRows, flopRows, measureTrainStep, perTokenRatio, planRows, planThroughputSweep, profileTrainStep,
  runThroughputSweep,
  speedupPoints, speedupRows, throughputConfig, throughputPaperComparison, throughputRecords,
} from "./experiments/throughput/index";
export type { ThroughputRow, ThroughputSweepOptions } from "./experiments/throughput/index";
export { barFigure, lineFigure } from "./notebook/plots";
export { exportFigure, showAndExport, showFigure } from "./notebook/render";
export { ablationCurves, ablationFigure, ablationSetup, formatMeanStd, trendLine, trendText, valuesLine } from "./notebook/figures/ablation";
export { learningCurveFigure } from "./notebook/figures/curves";
export { keysFigure } from "./notebook/figures/keys";
export { recallFigure } from "./notebook/figures/recall";
export { attentionCostFigures, matmulFigure, throughputFigure } from "./notebook/figures/throughput";
export { showPNG, showText } from "./notebook/images";
export { describeSetup, savePaperComparison } from "./notebook/report";
export { asList } from "./notebook/sweep";
export { readTable, showTable } from "./notebook/tables";
export { pickProfile, profiledName } from "./notebook/profiles";
export { PATHS, ROOT } from "./util/io";
