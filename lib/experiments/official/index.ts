/**
 * Paper-scale runs handed to the official JAX code, and back: a kit config as the launch command of either
 * branch of github.com/transformer-vq/transformer_vq (export.ts), a kit config from an official config file or
 * flag list (import.ts), on one description of what that code accepts (fields.ts). `npm run export-official`.
 */
export * from "./fields";
export * from "./export";
export * from "./import";
