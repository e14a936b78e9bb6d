/** The paper: RMSNorm, dropout, relative positions, the vector quantizer, VQ-attention (the definition and its linear forms), the recurrent state, the model's tensors and the GAU decoder. Imports only runtime/ and config. */
export * from "./attention";
export * from "./attention-chunked";
export * from "./attention-linear";
export * from "./dropout";
export * from "./model";
export * from "./norm";
export * from "./params";
export * from "./pe";
export * from "./state";
export * from "./vq";
