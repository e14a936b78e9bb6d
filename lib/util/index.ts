/** Leaf utilities that import nothing from the kit: atomic file writes and paths, JSON merge and diff, statistics, number formatting, the table type, display and progress. */
export * from "./display";
export * from "./format";
export * from "./io";
export * from "./json";
export * from "./progress";
export * from "./stats";
export * from "./table";
export * from "./faults";
export * from "./shell";
