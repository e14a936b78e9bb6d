/** The paper: RMSNorm, dropout, relative positions, the vector quantizer, VQ-attention in all its forms, the GAU model and its recurrent state. Imports only runtime/ and config. */
export * from "./attention";
export * from "./dropout";
export * from "./model";
export * from "./norm";
export * from "./pe";
export * from "./vq";
