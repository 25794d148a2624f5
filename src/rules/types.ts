import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/descriptor.js';
import type { ContentProbe } from '../oci/layer/facts.js';
import type { FileSystemView } from '../oci/layer/filesystem.js';
import type { ImageReference } from '../oci/reference.js';
import type { Finding, Level, Status } from '../report/types.js';

/**
 * Rules, ESLint-style: each module exports metadata and a pure check over the
 * evidence the engine gathered. A rule never does I/O.
 */

/** Where a rule's evidence comes from (catalogue.md). */
export type EvidenceKind = 'reference' | 'manifest' | 'config' | 'fs' | 'run';

export interface RuleMeta {
  /** Catalogue ID, e.g. 'IVC-USER-001'. */
  id: string;
  /** Default level (a profile may override it or turn the rule off). */
  level: Level;
  /** Evidence the check reads; the engine fetches only what the selected rules need. */
  evidence: EvidenceKind[];
  /** Short title, e.g. 'Runs as a non-root user'. */
  title: string;
  /** The requirement, one or two sentences (what `ivoc rules ID` prints first). */
  description: string;
  /** Why the platform needs it. */
  rationale: string;
  /** How to fix it, one line (shown under every failure). */
  help: string;
  /** Anchor in spec/ (the section of the standard), e.g. 'ivc-user-001'. */
  specAnchor: string;
  /** fs rules: file bodies and content probes the layer scan must keep for this rule. */
  capture?: RuleCapture;
}

/** What an fs rule needs kept from the layer scan; the engine unions these into one CaptureSpec. */
export interface RuleCapture {
  /** Exact absolute paths whose bodies the rule reads. */
  paths?: string[];
  /** Globs over absolute paths ('*' within a component, '**' across) whose bodies the rule reads. */
  globs?: string[];
  probes?: ContentProbe[];
}

/** Platform session types and what each behaves as. */
export type SessionBehaviour = 'notebook' | 'web' | 'desktop-app' | 'headless';

export interface SessionType {
  behavesAs: SessionBehaviour;
  /** Well-known port for interactive types. */
  port?: number;
  /** Executables that must be on PATH (IVC-START-004). */
  requiredExecutables?: string[];
  /** A base-path form the platform imposes (e.g. 'arg' for CANFAR contributed). */
  basePath?: string;
}

export interface RunParameters {
  startupTimeoutSeconds: number;
  /** Headless smoke command (argv). */
  smokeCommand?: string[];
  env: Record<string, string>;
  memory: string;
  cpus: number;
  readOnlyRootfs: boolean;
}

export interface ProfileParameters {
  /** Paths the platform mounts (IVC-VOL-001). */
  platformMounts: string[];
  /** Startup script the platform runs, e.g. '/skaha/startup.sh'. */
  startupScript?: string;
  /** 'exec': the script must end by exec-ing its arguments (IVC-START-003). */
  startupStyle?: 'exec';
  /** A script that must not block, e.g. '/skaha/init.sh'. */
  initScript?: string;
  /** setuid/setgid-root executables that are fine (basenames or absolute paths). */
  setuidAllowList: string[];
  maxLayers: number;
  maxCompressedBytes: number;
  /** A user the platform imposes (kubeflow: jovyan, uid 1000, HOME /home/jovyan). */
  user?: { name?: string; uid?: number; home?: string };
  run: RunParameters;
}

export interface ResolvedProfile {
  name: string;
  description: string;
  /** 'built-in' or the profile file's path. */
  source: string;
  /** The chain of profiles this one extends, nearest first. */
  extends: string[];
  /** The spec version this profile states (report.profile.specVersion). */
  specVersion: string;
  /** spec-version range images may claim (IVC-META-004), e.g. '^1.0.0'. */
  supportedSpecVersions: string;
  types: Record<string, SessionType>;
  /** Level overrides and off-switches, by rule ID. */
  rules: Record<string, Level | 'off'>;
  parameters: ProfileParameters;
}

/** Everything the engine can gather about one image; absent parts were not needed or not available. */
export interface Evidence {
  /** The reference as given (IVC-PLAT-002). */
  reference: { input: string; parsed: ImageReference };
  /** Manifest side: what the reference resolved to. */
  manifest?: {
    root: Descriptor;
    index?: ImageIndex;
    descriptor: Descriptor;
    manifest: ImageManifest;
    platform: Platform;
    platforms: Platform[];
    /** The platform asked for (default linux/amd64), and whether the image has it. */
    wantedPlatform: Platform;
    wantedPlatformFound: boolean;
  };
  config?: ImageConfig;
  /** Config labels merged over manifest annotations (labels win on conflict). */
  labels?: Record<string, string>;
  /** The merged filesystem, when an fs rule is selected. */
  fs?: FileSystemView;
  /** Results of running the container (--run). */
  run?: Record<string, unknown>;
}

export interface RuleContext {
  evidence: Evidence;
  profile: ResolvedProfile;
}

export interface RuleOutcome {
  status: Status;
  message: string;
  evidence?: Record<string, unknown>;
  findings?: Finding[];
  /** A rule may report below its level in a named case (e.g. an unused hub is a warning). */
  level?: Level;
}

export interface Rule {
  meta: RuleMeta;
  check(context: RuleContext): RuleOutcome;
}
