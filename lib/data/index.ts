/** Data sets, tokenizers and batches: Enwik8, PG-19, ImageNet64 and their offline stand-ins. */
export * from "./batches";
export * from "./bpe";
export * from "./datasets";
export * from "./download";
export * from "./enwik8";
export * from "./image";
export * from "./imagenet64";
export * from "./pg19";
export * from "./recall";
export * from "./stamp";
export * from "./vocab";
export * from "./zip";
