/**
 * undici's Pool and `request`, loaded from the package's own files rather than
 * its index: the index loads all of undici (fetch, WebSocket, caches, mocks,
 * proxies) and costs about 100 ms of start-up, these two files about 40 ms, and
 * start-up is part of every `ivoc inspect`. The undici version is pinned in
 * package.json; the registry tests exercise both imports.
 */

import type { Dispatcher, Pool as UndiciPool } from 'undici';
import requestImpl from 'undici/lib/api/api-request.js';
import PoolImpl from 'undici/lib/dispatcher/pool.js';

export type Pool = UndiciPool;
export const Pool = PoolImpl as unknown as typeof UndiciPool;

/** `pool.request(options)`: the index adds it to every dispatcher; here it is called directly. */
export function request(pool: Pool, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return (
    requestImpl as (this: Pool, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>
  ).call(pool, options);
}
