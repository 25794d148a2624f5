// Types of bench/env.mjs, for bench/images.ts.
export declare const ROOT: string;
export declare const WORK_DIR: string;
/** Bundles the repository file ENTRY (relative to the checkout) with esbuild and imports it. */
export declare function importTs(entry: string): Promise<Record<string, unknown>>;
/** The test environment (test/env/global-setup.ts), started or reused; `stop()` releases it. */
export declare function startBenchEnv(): Promise<{
  testEnv: { registries: { anonymous: { host: string } } };
  stop(): Promise<void>;
}>;
