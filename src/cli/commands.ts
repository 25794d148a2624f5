import type { CliSpec, OptionSpec } from './args.js';

/**
 * The commands and their options, as data: args.ts parses with it and prints
 * help from it. Each command's module is imported only when it runs, so
 * `ivoc inspect` never loads the engine client or the rule engine.
 */

const profile: OptionSpec = {
  type: 'string',
  value: 'NAME|FILE',
  default: 'ivoa',
  description: 'built-in profile (ivoa, canfar, kubeflow) or a profile FILE',
};

const failOn: OptionSpec = {
  type: 'string',
  value: 'LEVEL',
  choices: ['error', 'warning', 'never'],
  default: 'error',
  description: 'exit 1 when a finding is at or above LEVEL',
};

const textOrJson: OptionSpec = {
  type: 'string',
  value: 'FORMAT',
  choices: ['text', 'json'],
  default: 'text',
  description: 'output format',
};

export const cli: CliSpec = {
  name: 'ivoc',
  globalOptions: {
    creds: { type: 'string', value: 'USER:PASS', description: 'registry credentials' },
    'insecure-registry': {
      type: 'string',
      value: 'HOST[:PORT]',
      multiple: true,
      description: 'reach HOST over plain HTTP or without TLS verification',
    },
    platform: {
      type: 'string',
      value: 'OS/ARCH',
      default: 'linux/amd64',
      description: 'os/arch[/variant] to select from an index',
    },
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      description: 'write the output to FILE instead of stdout',
    },
    quiet: { type: 'boolean', short: 'q', description: 'print nothing but the result' },
    color: { type: 'boolean', description: 'colour (off on non-TTY, with --no-color or NO_COLOR)' },
  },
  commands: [
    {
      name: 'inspect',
      description: "show an image's digest, platform, config and layers",
      positionals: [{ name: 'image', required: true, description: 'image reference (any transport)' }],
      options: {
        format: textOrJson,
        raw: { type: 'boolean', description: 'print the manifest (or index) as stored' },
        config: { type: 'boolean', description: 'print the image config as stored' },
        scan: {
          type: 'boolean',
          description: 'read every layer too (verified) and summarise the filesystem',
        },
        path: {
          type: 'string',
          value: 'PATH',
          multiple: true,
          description: 'look PATH up in the merged filesystem (implies --scan)',
        },
        cache: {
          type: 'boolean',
          default: true,
          description:
            'use the caches (configs, layer facts, scan summaries, rule results; --no-cache: read everything again)',
        },
      },
      async run([image], options) {
        const { inspectCommand } = await import('./inspect.js');
        return inspectCommand(image!, options);
      },
    },
    {
      name: 'lint',
      description: 'check images against a profile of the standard and print a report',
      positionals: [{ name: 'images', required: true, variadic: true, description: 'image references' }],
      options: {
        profile,
        format: {
          type: 'string',
          short: 'f',
          value: 'FORMAT',
          choices: ['text', 'json', 'sarif', 'junit', 'github', 'markdown'],
          default: 'text',
          description: 'report format',
        },
        'fail-on': failOn,
        run: { type: 'boolean', description: 'also start the container with a Docker engine (run rules)' },
        rule: {
          type: 'string',
          value: 'ID',
          multiple: true,
          description: 'only these rule IDs (also comma-separated)',
        },
        verbose: { type: 'boolean', description: 'list passed rules and every finding' },
        jobs: {
          type: 'string',
          short: 'j',
          value: 'N',
          description: 'images checked at once (default: $IVOC_JOBS, else one per CPU, at most 4)',
        },
        attached: {
          type: 'boolean',
          description:
            'show the report ivoc publish attached to a registry image instead of checking it again',
        },
        cache: {
          type: 'boolean',
          default: true,
          description:
            'use the caches (configs, layer facts, scan summaries, rule results; --no-cache: read everything again)',
        },
      },
      async run(images, options) {
        const { lintCommand } = await import('./lint.js');
        return lintCommand(images, options);
      },
    },
    {
      name: 'publish',
      description: 'validate an image, then push it with discovery labels and its report attached',
      positionals: [
        { name: 'src', required: true, description: 'source image (any transport)' },
        { name: 'dest', required: true, description: 'registry reference HOST/REPO[:TAG]' },
      ],
      options: {
        tag: {
          type: 'string',
          short: 't',
          value: 'TAG',
          multiple: true,
          description: 'also tag the pushed image TAG',
        },
        'semver-tags': {
          type: 'boolean',
          description: 'also tag X.Y.Z, X.Y and X from org.opencontainers.image.version',
        },
        'all-platforms': {
          type: 'boolean',
          description: 'index SRC: validate and publish every platform (default: --platform only)',
        },
        'dry-run': { type: 'boolean', description: 'validate and show what would be pushed; write nothing' },
        'digest-file': {
          type: 'string',
          value: 'FILE',
          description: 'write the pushed manifest digest to FILE',
        },
        profile,
        format: { ...textOrJson, short: 'f' },
        'fail-on': failOn,
        revision: {
          type: 'string',
          value: 'REV',
          description: 'org.opencontainers.image.revision (e.g. a commit)',
        },
        cache: {
          type: 'boolean',
          default: true,
          description: 'use the caches when validating (--no-cache: read everything again)',
        },
        source: { type: 'string', value: 'URL', description: 'org.opencontainers.image.source (a URL)' },
      },
      async run([src, dest], options) {
        const { publishCommand } = await import('./publish.js');
        return publishCommand(src!, dest!, options);
      },
    },
    {
      name: 'rules',
      description: 'list the rules, or explain one',
      positionals: [{ name: 'id', required: false, description: 'rule ID, e.g. IVC-USER-001' }],
      options: { format: textOrJson },
      async run([id], options) {
        const { rulesCommand } = await import('./catalogue-info.js');
        return rulesCommand(id, options);
      },
    },
    {
      name: 'profiles',
      description: 'list the built-in profiles, or print one resolved',
      positionals: [{ name: 'name', required: false, description: 'profile name or FILE' }],
      options: {},
      async run([name], options) {
        const { profilesCommand } = await import('./catalogue-info.js');
        return profilesCommand(name, options);
      },
    },
  ],
};
