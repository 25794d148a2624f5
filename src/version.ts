import pkg from '../package.json' with { type: 'json' };

/** The tool's version, as reports and the User-Agent carry it. */
export const toolVersion: string = pkg.version;

/** Set by scripts/build.mjs: a hash of the sources the bundle was built from. */
declare const __IVOC_BUILD_ID__: string | undefined;

/**
 * Which build this is: part of the key of every cache of derived results
 * (rule results, scan summaries), so a new build never reuses what an older
 * one concluded. From source (the unit tests), the version stands in.
 */
export const buildId: string =
  typeof __IVOC_BUILD_ID__ === 'string' ? __IVOC_BUILD_ID__ : `source-${toolVersion}`;
