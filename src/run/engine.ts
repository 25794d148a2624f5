import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import { loadDockerode } from '../dockerode.js';
import { ImageError, IvocError, TransportError } from '../errors.js';
import { type ImageSource, maxConfigBytes, readAll } from '../oci/content.js';
import type { LoadedImage } from '../oci/image.js';
import { formatImageReference, formatRegistryReference, type ImageReference } from '../oci/reference.js';
import type { RunImage } from './runner.js';

/** Where the engine is: DOCKER_HOST, else the default socket (what dockerode itself uses). */
export function engineAddress(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** A dockerode client for DOCKER_HOST (or the default socket), checked with /_ping. Exit 3 if none answers. */
export async function connectEngine(timeoutMs = 10_000): Promise<Dockerode> {
  const Docker = await loadDockerode();
  const docker = new Docker({ timeout: timeoutMs } as Dockerode.DockerOptions);
  try {
    await docker.ping();
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new TransportError(
      'ERR_ENGINE',
      `--run needs a Docker engine, and none answered at ${engineAddress()}${code ? ` (${code})` : ''}; start one or set DOCKER_HOST`,
      { cause: error },
    );
  }
  // The ping's timeout must not cut long requests (image load, wait) short.
  return new Docker();
}

function engineError(what: string, error: unknown, image: string): TransportError {
  if (error instanceof TransportError) return error;
  const message = (error as { json?: { message?: string } }).json?.message ?? (error as Error).message;
  return new TransportError('ERR_ENGINE', `${what}: ${message}`, { image, cause: error });
}

async function imageId(docker: Dockerode, name: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(name).inspect()).Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * A `docker-daemon:` image as a run needs it, from the engine's inspect: the
 * run does not wait for the image's export (which the lint reads meanwhile).
 */
export async function daemonRunImage(
  docker: Dockerode,
  reference: Extract<ImageReference, { transport: 'docker-daemon' }>,
): Promise<RunImage> {
  const name = formatImageReference(reference);
  const engineName = reference.id ?? formatRegistryReference(reference.ref!);
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(engineName).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404)
      throw new ImageError('ERR_NOT_FOUND', 'no such image in the Docker engine', {
        image: name,
        cause: error,
      });
    throw engineError('cannot inspect the image in the engine', error, name);
  }
  return {
    name,
    labels: info.Config?.Labels ?? {},
    cmd: info.Config?.Cmd ?? undefined,
    ensure: async () => info.Id,
  };
}

/**
 * Makes the image available in the engine and returns its ID. `docker-daemon:`
 * images are there already. Anything else is streamed into `docker load` as a
 * docker-archive packed on the fly from the source: manifest.json, the config,
 * and each layer blob as its `layer.tar` (the engine decompresses layers as it
 * loads them, and checks them against the config's diff_ids). No copy on disk.
 * An image the engine already has (same config digest) is not loaded again.
 */
export async function ensureImageInEngine(
  docker: Dockerode,
  source: ImageSource,
  loaded: LoadedImage,
  signal?: AbortSignal,
): Promise<string> {
  const reference = source.reference;
  if (reference.transport === 'docker-daemon') {
    const name = reference.id ?? formatRegistryReference(reference.ref!);
    const id = await imageId(docker, name).catch((error: unknown) => {
      throw engineError('cannot inspect the image in the engine', error, loaded.name);
    });
    if (id === undefined)
      throw new TransportError('ERR_NOT_FOUND', 'no such image in the Docker engine', { image: loaded.name });
    return id;
  }
  const id = loaded.configDescriptor.digest;
  if ((await imageId(docker, id).catch(() => undefined)) !== undefined) return id;
  // Two jobs of one `lint -j` that need the same image: one load, the other
  // waits for it (and loads it itself if that load fails).
  const key = `${engineAddress()}\n${id}`;
  const shared = loading.get(key);
  if (shared) {
    try {
      return await shared;
    } catch (error) {
      if (signal?.aborted) throw error;
    }
  }
  const load = loadIntoEngine(docker, source, loaded, signal);
  loading.set(key, load);
  try {
    return await load;
  } finally {
    if (loading.get(key) === load) loading.delete(key);
  }
}

/** Loads in progress, by engine and image ID. */
const loading = new Map<string, Promise<string>>();

async function loadIntoEngine(
  docker: Dockerode,
  source: ImageSource,
  loaded: LoadedImage,
  signal: AbortSignal | undefined,
): Promise<string> {
  const id = loaded.configDescriptor.digest;

  const hex = (digest: string) => digest.split(':')[1]!;
  const configName = `${hex(id)}.json`;
  const layers = loaded.manifest.layers.map((layer) => ({ layer, name: `${hex(layer.digest)}/layer.tar` }));
  const pack = tarStream.pack();
  // tar-stream's pack is a streamx stream; the engine's client wants a Node stream.
  const archive = new PassThrough({ highWaterMark: 1 << 20 });
  pack.pipe(archive);
  // A failed layer destroys its entry, and so the pack, with its error; the archive is
  // destroyed with it (the engine's client then cuts its request). The failure is
  // reported through `feed` and the load: these listeners only keep it from being an
  // uncaught 'error' event (a stack trace and a wrong exit code).
  pack.on('error', (error: Error) => archive.destroy(error));
  archive.on('error', () => undefined);
  const feed = (async () => {
    const manifest = [{ Config: configName, RepoTags: null, Layers: layers.map((l) => l.name) }];
    pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
    // The config exactly as stored: its digest is the image ID.
    const options = signal ? { signal } : undefined;
    const config = await readAll(
      source,
      loaded.configDescriptor,
      maxConfigBytes,
      { image: loaded.name },
      options,
    );
    pack.entry({ name: configName }, config);
    const seen = new Set<string>();
    for (const { layer, name } of layers) {
      if (seen.has(name)) continue;
      seen.add(name);
      const body = await source.fetch(layer, options);
      try {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ name, size: layer.size }, (error) =>
            error ? reject(error) : resolve(),
          );
          // Heard here, or pipe()'s own handler re-emits the entry's error to no one.
          entry.on('error', reject);
          body.on('error', (error) => {
            entry.destroy(error);
            reject(error);
          });
          body.pipe(entry);
        });
      } finally {
        // A no-op once read; else (the pack failed) the blob's download stops.
        body.destroy();
      }
    }
    pack.finalize();
  })();
  feed.catch((error: unknown) => {
    pack.destroy(error as Error);
    archive.destroy(error as Error);
  });
  const abort = () =>
    archive.destroy(
      new TransportError('ERR_TIMEOUT', 'the image load was cut: the run took too long', {
        image: loaded.name,
      }),
    );
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const response = await docker.loadImage(archive, { quiet: true });
    const messages = await new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
      docker.modem.followProgress(response, (error: Error | null, output: Array<Record<string, unknown>>) =>
        error ? reject(error) : resolve(output),
      );
    });
    await feed;
    for (const message of messages) {
      const failure = message.error ?? (message.errorDetail as { message?: string } | undefined)?.message;
      if (typeof failure === 'string') throw new Error(failure);
    }
  } catch (error) {
    // Nothing reads the archive any more: a feed waiting for room would wait for ever.
    const cut = error instanceof Error ? error : new Error(String(error));
    pack.destroy(cut);
    archive.destroy(cut);
    const fed = await feed.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    // The source failed (a layer's digest, a registry), and so the load: its error names the blob.
    if (!signal?.aborted && fed instanceof IvocError) throw fed;
    if (!signal?.aborted && error instanceof IvocError) throw error;
    if (signal?.aborted)
      throw new TransportError('ERR_TIMEOUT', 'the image load was cut: the run took too long', {
        image: loaded.name,
        cause: error,
      });
    throw engineError('docker load of the image failed', error, loaded.name);
  } finally {
    signal?.removeEventListener('abort', abort);
  }
  const loadedId = await imageId(docker, id);
  if (loadedId === undefined) {
    throw new TransportError('ERR_ENGINE', `docker load did not produce image ${id}`, { image: loaded.name });
  }
  return loadedId;
}
