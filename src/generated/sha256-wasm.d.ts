// Types of the module scripts/sha256-wasm.mjs generates at build time (sha256-wasm.js, git-ignored).
export const sha256Wasm: string;
export const layout: { scheduleOffset: number; stateOffset: number; inputOffset: number };
