import { setMaxListeners } from 'node:events';
import type { FetchOptions, ImageSource } from '../oci/content.js';
import type { Descriptor } from '../oci/descriptor.js';
import { preferThroughputGc } from '../oci/layer/gc-tuning.js';
import type { RegistryTarget, StagedUpload } from '../oci/registry/index.js';
import { type BlobOutcome, headParallel, mapBounded } from './transfer.js';

/**
 * Layer uploads that run while publish validates: the large layers DEST lacks are
 * sent into upload sessions that stay open (RegistryTarget.stage) until the
 * verdict. On a pass commit() closes them, so the transfer that follows
 * finds them uploaded; on a refusal or a failure cancel() deletes every
 * session: the registry never shows a blob of a refused image, let alone a
 * manifest or a tag.
 *
 * Best effort by design: a layer whose staging fails, or whose closing PUT
 * fails, is simply not reported as uploaded, and the ordinary transfer after
 * the verdict uploads it (with its restarts). Staging only ever saves time.
 */

/** Layers up to this size are not staged (the registry client uploads them in one PUT). */
export const stagedMinBytes = 16 * 1024 * 1024;

export interface EarlyUploadOptions {
  /** Sessions filled at once (default 3, as the transfer's uploads). */
  parallel?: number;
}

export class EarlyUploads {
  private readonly controller = new AbortController();
  private readonly staged = new Map<string, StagedUpload>();
  /** Layers DEST has: named by the image its tag points to, or answered HEAD 200 for. */
  private readonly present = new Set<string>();
  private running: Promise<void> | undefined;
  /** Set by commit(): sessions filled from then on are closed at once. */
  private passed = false;
  private readonly commits: Promise<void>[] = [];
  private readonly known = new Map<string, BlobOutcome>();
  private readonly parallel: number;

  constructor(
    private readonly source: ImageSource,
    /** DEST; the caller closes it (executePublish does, when handed it). */
    readonly target: RegistryTarget,
    private readonly layers: readonly Descriptor[],
    options: EarlyUploadOptions = {},
  ) {
    this.parallel = Math.max(1, options.parallel ?? 3);
    // Every open session and every request in flight listens to the one signal: up to a few per
    // layer (Node warns past 10 listeners, which here is not a leak).
    setMaxListeners(Math.max(10, 4 * layers.length), this.controller.signal);
  }

  /** Starts HEADing and staging in the background; never rejects. */
  start(): void {
    this.running ??= this.stageAll().catch(() => undefined);
  }

  private async stageAll(): Promise<void> {
    const signal = this.controller.signal;
    const options: FetchOptions = { signal };
    // Only layers sent in PATCH chunks: a smaller one would wait whole in memory for the verdict.
    const unique = [...new Map(this.layers.map((layer) => [layer.digest, layer])).values()].filter(
      (layer) => layer.size > stagedMinBytes,
    );
    // Unknown (the HEAD failed) is not staged; the transfer will look again.
    const present = await mapBounded(unique, headParallel, (layer) =>
      this.target.exists(layer, options).catch(() => undefined),
    );
    const missing = unique.filter((layer, i) => {
      if (present[i] === true) this.present.add(layer.digest);
      return present[i] === false;
    });
    await mapBounded(missing, this.parallel, async (layer) => {
      if (signal.aborted) return;
      try {
        // Layers are read in bulk from here on: the GC setting a scan uses (see there).
        preferThroughputGc();
        // Read with a size check only: the validation is reading and verifying this same blob
        // meanwhile (or verified it before: then its facts are cached), and the registry hashes
        // what it receives and refuses to commit the upload under a digest it does not match, so a
        // changed file fails the commit and the transfer's verified upload reports it. Hashing
        // 1.5 GB a second time cost a cold publish of the bench image ~1.3 CPU-s of its two cores.
        const stream = await this.source.fetch(layer, { ...options, verify: 'size' });
        try {
          const staged = await this.target.stage(layer, stream, { ...options, verified: true });
          if (signal.aborted) await staged.cancel();
          else if (this.passed) this.commits.push(this.commitOne(layer.digest, staged));
          else this.staged.set(layer.digest, staged);
        } finally {
          if (!stream.destroyed) stream.destroy();
        }
      } catch {
        // Left to the transfer after the verdict (stage() cancelled its own session).
      }
    });
  }

  /**
   * After a pass: closes every session, those staged so far at once and the
   * others as each is filled (a closing PUT costs the registry ~0.1-0.2 s of
   * hashing and moving per layer of the bench image: closed one after the
   * other at the end they added ~0.6 s to a cold publish). Returns what is
   * known of each large layer at DEST: 'uploaded' (the registry answered the
   * closing PUT with 201, having checked the digest) or 'present' (named by the
   * image DEST's tag points to, or HEAD 200 in this publish: docs/publish.md, step 5).
   */
  async commit(): Promise<Map<string, BlobOutcome>> {
    this.passed = true;
    for (const [digest, staged] of this.staged) this.commits.push(this.commitOne(digest, staged));
    this.staged.clear();
    await this.running;
    await Promise.all(this.commits);
    for (const digest of this.present) this.known.set(digest, 'present');
    return this.known;
  }

  /** Never rejects. */
  private async commitOne(digest: string, staged: StagedUpload): Promise<void> {
    try {
      await staged.commit();
      this.known.set(digest, 'uploaded');
    } catch {
      // Left to the transfer (its HEAD will say whether the PUT took effect after all, else
      // it uploads the layer, verified); the session, if the registry still has it, is deleted.
      await staged.cancel().catch(() => undefined);
    }
  }

  /** After a refusal or an error: stops the staging and deletes every open session. */
  async cancel(): Promise<void> {
    this.controller.abort();
    await this.running;
    await Promise.all([...this.staged.values()].map((staged) => staged.cancel().catch(() => undefined)));
    this.staged.clear();
    // Closing PUTs in flight (a signal after the verdict) were aborted with the signal; each then
    // deletes its session (commitOne). Waited for: nothing is left in flight.
    await Promise.all(this.commits);
  }
}
