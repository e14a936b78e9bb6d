/** The throughput study (paper §3): the memory plan, timed training steps, the kernel profile, the sweep and its speedups. */
export * from "./engine-monitor";
export * from "./measure";
export * from "./memory";
export * from "./profile";
export * from "./summary";
export * from "./sweep";
