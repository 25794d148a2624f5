/**
 * lintImage's beforeFilesystem hook (publish stages layers from it): called
 * once, with the verdict of the rules that read no file, before any layer is
 * read; not called when no selected rule reads the filesystem.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, file, writeOciLayout } from '../fixtures/index.js';
import type { FetchOptions, ImageSource } from '../src/oci/content.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { openImageSource } from '../src/oci/open.js';
import { parseImageReference } from '../src/oci/reference.js';
import type { Report } from '../src/report/types.js';
import { lintImage } from '../src/rules/engine.js';
import { allRules } from '../src/rules/index.js';
import { loadProfile } from '../src/rules/profiles.js';
import { compliantLabels, compliantWebImage } from './support/web-image.js';

let dir: string;
let input: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-engine-hook-'));
  const layer = await buildLayer([file('/bin/httpd', '#!/bin/sh\n', { mode: 0o755 })]);
  await writeOciLayout(join(dir, 'layout'), compliantWebImage([layer], compliantLabels('hook-me', '1.0.0')), {
    tag: 'v1',
  });
  input = `oci:${join(dir, 'layout')}:v1`;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The source, counting the layer blobs fetched. */
async function countingSource(): Promise<{ source: ImageSource; layerFetches: () => number }> {
  const source = await openImageSource(input);
  let layers = 0;
  const fetch = source.fetch.bind(source);
  source.fetch = (descriptor: Descriptor, options?: FetchOptions) => {
    if (descriptor.mediaType.includes('layer')) layers++;
    return fetch(descriptor, options);
  };
  return { source, layerFetches: () => layers };
}

describe('lintImage beforeFilesystem', () => {
  it('reports the rules that read no file before any layer is read', async () => {
    const profile = await loadProfile('ivoa', new Set(allRules.map((rule) => rule.meta.id)));
    const { source, layerFetches } = await countingSource();
    const calls: Array<{ report: Report; layersReadThen: number; layerCount: number }> = [];
    try {
      const report = await lintImage(source, {
        profile,
        rules: allRules,
        input,
        reference: parseImageReference(input),
        scan: { cache: false },
        beforeFilesystem: (early, loaded) => {
          calls.push({
            report: early,
            layersReadThen: layerFetches(),
            layerCount: loaded.manifest.layers.length,
          });
        },
      });
      expect(calls).toHaveLength(1);
      const [call] = calls;
      expect(call?.layersReadThen).toBe(0);
      expect(call?.layerCount).toBe(1);
      const fsRules = new Set(allRules.filter((r) => r.meta.evidence.includes('fs')).map((r) => r.meta.id));
      const earlyIds = call?.report.results.map((r) => r.rule) ?? [];
      expect(earlyIds.length).toBeGreaterThan(0);
      expect(earlyIds.filter((id) => fsRules.has(id))).toEqual([]);
      // The full report has the filesystem rules too, and read the layer.
      expect(report.results.some((r) => fsRules.has(r.rule))).toBe(true);
      expect(layerFetches()).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
  });

  it('is not called when no selected rule reads the filesystem', async () => {
    const profile = await loadProfile('ivoa', new Set(allRules.map((rule) => rule.meta.id)));
    const { source, layerFetches } = await countingSource();
    let called = 0;
    try {
      await lintImage(source, {
        profile,
        rules: allRules,
        only: ['IVC-USER-001', 'IVC-META-001'],
        input,
        reference: parseImageReference(input),
        beforeFilesystem: () => {
          called++;
        },
      });
      expect(called).toBe(0);
      expect(layerFetches()).toBe(0);
    } finally {
      await source.close();
    }
  });
});
