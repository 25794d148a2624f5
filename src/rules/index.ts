import ivcAuth001 from './ivc-auth-001.js';
import ivcAuth002 from './ivc-auth-002.js';
import ivcMeta001 from './ivc-meta-001.js';
import ivcMeta002 from './ivc-meta-002.js';
import ivcMeta003 from './ivc-meta-003.js';
import ivcMeta004 from './ivc-meta-004.js';
import ivcMeta005 from './ivc-meta-005.js';
import ivcMeta006 from './ivc-meta-006.js';
import ivcPath001 from './ivc-path-001.js';
import ivcPlat001 from './ivc-plat-001.js';
import ivcPlat002 from './ivc-plat-002.js';
import ivcPort001 from './ivc-port-001.js';
import ivcPort002 from './ivc-port-002.js';
import ivcRun001 from './ivc-run-001.js';
import ivcRun002 from './ivc-run-002.js';
import ivcRun003 from './ivc-run-003.js';
import ivcRun004 from './ivc-run-004.js';
import ivcRun005 from './ivc-run-005.js';
import ivcSec001 from './ivc-sec-001.js';
import ivcSize001 from './ivc-size-001.js';
import ivcStart001 from './ivc-start-001.js';
import ivcStart002 from './ivc-start-002.js';
import ivcStart003 from './ivc-start-003.js';
import ivcStart004 from './ivc-start-004.js';
import ivcUser001 from './ivc-user-001.js';
import ivcUser002 from './ivc-user-002.js';
import ivcUser003 from './ivc-user-003.js';
import ivcUser004 from './ivc-user-004.js';
import ivcVol001 from './ivc-vol-001.js';
import type { Rule, RuleMeta } from './types.js';

/** Every rule of the catalogue, in catalogue order. Adding a rule: one module, one line here. */
export const allRules: readonly Rule[] = [
  ivcMeta001,
  ivcMeta002,
  ivcMeta003,
  ivcMeta004,
  ivcMeta005,
  ivcMeta006,
  ivcPlat001,
  ivcPlat002,
  ivcUser001,
  ivcUser002,
  ivcUser003,
  ivcUser004,
  ivcPort001,
  ivcPort002,
  ivcPath001,
  ivcStart001,
  ivcStart002,
  ivcStart003,
  ivcStart004,
  ivcAuth001,
  ivcAuth002,
  ivcSec001,
  ivcVol001,
  ivcSize001,
  ivcRun001,
  ivcRun002,
  ivcRun003,
  ivcRun004,
  ivcRun005,
];

export const ruleMetadata: ReadonlyMap<string, RuleMeta> = new Map(
  allRules.map((rule) => [rule.meta.id, rule.meta]),
);
