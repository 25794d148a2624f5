import { join } from 'node:path';
import { homeDirectory } from './home.js';

/**
 * Where ivoc's caches live and whether the environment turns them off: read
 * by the layer cache (layer/cache.ts) and by the CLI's launcher for its code
 * cache (cli/launch.ts), which runs before anything else and so imports only
 * this small module.
 */

/** $IVOC_CACHE_DIR, else $XDG_CACHE_HOME/ivoc, else ~/.cache/ivoc; undefined (no caches) without a home. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.IVOC_CACHE_DIR) return env.IVOC_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ivoc');
  const home = homeDirectory();
  return home === undefined ? undefined : join(home, '.cache', 'ivoc');
}

/** True when the environment turns the caches off (IVOC_NO_CACHE=1/true/yes). */
export function cacheDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.IVOC_NO_CACHE?.toLowerCase();
  return value === '1' || value === 'true' || value === 'yes';
}
