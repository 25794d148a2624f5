import pkg from '../package.json' with { type: 'json' };

/** The tool's version, as reports and the User-Agent carry it. */
export const toolVersion: string = pkg.version;
