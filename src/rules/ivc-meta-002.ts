import parseSpdx from 'spdx-expression-parse';
import type { Finding } from '../report/types.js';
import { ociPrefix } from './labels.js';
import type { Evidence, Rule } from './types.js';
import { labelFindingKey, listed, presentLabel, quoted } from './util/label-values.js';
import * as semver from './util/semver.js';

/**
 * Formats of the OCI pre-defined keys. Only keys that are present are
 * checked: absence is IVC-META-001's business (and `url`, `documentation`,
 * `created` are optional anyway).
 *
 * - `version`: semver; a leading `v` passes with a note in the message.
 * - `licenses`: an SPDX license expression as spdx-expression-parse reads it
 *   (ids as the SPDX list spells them, `LicenseRef-...` allowed). `NONE` and
 *   `NOASSERTION` fail: they are SPDX document values, not expressions, and
 *   tell a platform nothing about the terms.
 * - `source`, `url`, `documentation`: absolute http(s) URLs with a host.
 * - `created`: RFC 3339 date-time with `T` and an offset (`Z` or `±hh:mm`),
 *   calendar-checked (no 31 April).
 */

const versionKey = `${ociPrefix}version`;
const licensesKey = `${ociPrefix}licenses`;
const createdKey = `${ociPrefix}created`;
const urlKeys = ['source', 'url', 'documentation'].map((name) => `${ociPrefix}${name}`);

interface KeyCheck {
  key: string;
  /** Why the value is wrong; undefined when it is fine. */
  problem?: string;
  /** A note for a value that passes (the tolerated `v`). */
  note?: string;
}

function checkVersion(key: string, value: string): KeyCheck {
  const bare = value.startsWith('v') ? value.slice(1) : value;
  if (semver.valid(bare) !== null && !bare.startsWith('v')) {
    if (bare === value) return { key };
    return { key, note: `version ${quoted(key, value)} has a leading 'v' (tolerated; semver is '${bare}')` };
  }
  const padded = /^\d+(\.\d+)?$/.test(bare) ? ` (semver needs three parts, e.g. '${pad(bare)}')` : '';
  return { key, problem: `version ${quoted(key, value)} is not a semantic version${padded}` };
}

function pad(numbers: string): string {
  const parts = numbers.split('.');
  while (parts.length < 3) parts.push('0');
  return parts.join('.');
}

function checkLicenses(key: string, value: string): KeyCheck {
  if (value === 'NONE' || value === 'NOASSERTION') {
    return {
      key,
      problem: `licenses ${quoted(key, value)} states no licence; give an SPDX expression such as 'MIT' or 'LicenseRef-Proprietary'`,
    };
  }
  try {
    parseSpdx(value);
    return { key };
  } catch {
    return {
      key,
      problem: `licenses ${quoted(key, value)} is not a valid SPDX license expression (ids as the SPDX list spells them, e.g. 'MIT', 'BSD-3-Clause OR Apache-2.0')`,
    };
  }
}

function checkUrl(key: string, value: string): KeyCheck {
  const name = key.slice(ociPrefix.length);
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url) return { key, problem: `${name} ${quoted(key, value)} is not an absolute URL` };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { key, problem: `${name} ${quoted(key, value)} is not an http(s) URL (scheme ${url.protocol})` };
  }
  if (url.hostname === '') return { key, problem: `${name} ${quoted(key, value)} has no host` };
  return { key };
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 section 5.6 date-time, with the calendar and clock ranges checked. */
export function isRfc3339(value: string): boolean {
  const match = rfc3339.exec(value);
  if (!match) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHour = 0, offsetMinute = 0] =
    match.slice(1).map((part) => Number(part ?? 0));
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  if (day > days) return false;
  // Second 60 is a leap second, which RFC 3339 allows.
  return hour <= 23 && minute <= 59 && second <= 60 && offsetHour <= 23 && offsetMinute <= 59;
}

function checkCreated(key: string, value: string): KeyCheck {
  if (isRfc3339(value)) return { key };
  const hint = /^\d{4}-\d{2}-\d{2}$/.test(value)
    ? ' (a date alone; add a time and offset, e.g. 2024-05-01T12:00:00Z)'
    : / \d{2}:\d{2}/.test(value)
      ? " (use 'T' between date and time, e.g. 2024-05-01T12:00:00Z)"
      : ' (e.g. 2024-05-01T12:00:00Z)';
  return { key, problem: `created ${quoted(key, value)} is not an RFC 3339 date-time${hint}` };
}

function checks(evidence: Evidence): KeyCheck[] {
  const done: KeyCheck[] = [];
  const value = (key: string) => presentLabel(evidence, key);
  const version = value(versionKey);
  if (version !== undefined) done.push(checkVersion(versionKey, version));
  const licenses = value(licensesKey);
  if (licenses !== undefined) done.push(checkLicenses(licensesKey, licenses));
  for (const key of urlKeys) {
    const url = value(key);
    if (url !== undefined) done.push(checkUrl(key, url));
  }
  const created = value(createdKey);
  if (created !== undefined) done.push(checkCreated(createdKey, created));
  return done;
}

export default {
  meta: {
    id: 'IVC-META-002',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'OCI label values are well-formed',
    description:
      'Present OCI keys have the right format: version is semver (a leading v is tolerated), licenses an SPDX license expression, source/url/documentation absolute http(s) URLs, created an RFC 3339 date-time.',
    rationale:
      'Catalogues sort versions, link to sources and filter by licence mechanically; a value a machine cannot read breaks those features for every user of the platform.',
    help: 'Fix the value, e.g. LABEL org.opencontainers.image.version="1.2.0" org.opencontainers.image.licenses="BSD-3-Clause"',
    specAnchor: 'ivc-meta-002',
  },
  check({ evidence }) {
    const results = checks(evidence);
    const checked = results.map((result) => result.key.slice(ociPrefix.length));
    const notes = results.flatMap((result) => (result.note ? [result.note] : []));
    const bad = results.filter((result) => result.problem !== undefined);
    if (results.length === 0) {
      return {
        status: 'pass',
        message: 'no OCI key with a format to check is present',
        evidence: { checked },
      };
    }
    if (bad.length === 0) {
      const message = `${listed(checked)} ${checked.length === 1 ? 'is' : 'are'} well-formed`;
      return {
        status: 'pass',
        message: notes.length > 0 ? `${message}; ${notes.join('; ')}` : message,
        evidence: { checked },
      };
    }
    const findings: Finding[] = bad.map((result) => ({
      message: result.problem!,
      key: labelFindingKey(evidence, result.key),
    }));
    return {
      status: 'fail',
      message: [...bad.map((result) => result.problem!), ...notes].join('; '),
      evidence: { checked, invalid: bad.map((result) => result.key) },
      findings,
    };
  },
} satisfies Rule;
