import Module, { createRequire } from 'node:module';
import type Dockerode from 'dockerode';

/**
 * dockerode, loaded without the modules ivoc does not use until they are
 * used. dockerode requires at load time ssh2 (for `DOCKER_HOST=ssh://`), its
 * BuildKit session (@grpc/grpc-js, @grpc/proto-loader: `docker build` with a
 * session), tar-fs with a dockerignore parser (build contexts) and, through
 * docker-modem, readable-stream (hijacked attach/exec streams): 300-600 ms
 * of a `lint --run` that takes about a second otherwise. Each is put in
 * require's cache as a stand-in that loads the real module on first use, so
 * every dockerode feature still works, at its own cost, when used.
 */

const requireHere = createRequire(import.meta.url);

type Loader = () => unknown;

interface Deferred {
  /** The module, as the requiring file resolves it. */
  from: string;
  request: string;
  /** The stand-in's exports, given a loader of the real module. */
  standIn: (real: Loader) => unknown;
}

/** A function (or class) that loads the real one when first called or constructed. */
function lazyCallable(get: () => unknown): unknown {
  return new Proxy(function standIn() {}, {
    apply: (_target, self, args) => Reflect.apply(get() as (...a: unknown[]) => unknown, self, args),
    construct: (_target, args) => Reflect.construct(get() as new (...a: unknown[]) => object, args),
    get: (_target, key) => Reflect.get(get() as object, key),
  });
}

/** An object whose properties load the real module when first read. */
function lazyObject(get: () => unknown): unknown {
  return new Proxy(
    {},
    {
      get: (_target, key) => Reflect.get(get() as object, key),
      has: (_target, key) => Reflect.has(get() as object, key),
    },
  );
}

const deferred: Deferred[] = [
  // docker-modem/lib/ssh.js: `var Client = require('ssh2').Client` at load, `new Client()` when used.
  {
    from: 'docker-modem/lib/ssh.js',
    request: 'ssh2',
    standIn: (real) => ({ Client: lazyCallable(() => (real() as { Client: unknown }).Client) }),
  },
  // dockerode/lib/docker.js: `withSession = require('./session')`, called by buildImage with a session.
  { from: 'dockerode/lib/docker.js', request: './session', standIn: (real) => lazyCallable(real) },
  // docker-modem/lib/modem.js: `new HttpDuplex(req, res)` for hijacked (attach, exec) streams only; loads readable-stream.
  { from: 'docker-modem/lib/modem.js', request: './http_duplex', standIn: (real) => lazyCallable(real) },
  // dockerode/lib/util.js: build contexts only.
  { from: 'dockerode/lib/util.js', request: 'tar-fs', standIn: (real) => lazyObject(real) },
  { from: 'dockerode/lib/util.js', request: '@balena/dockerignore', standIn: (real) => lazyCallable(real) },
];

/** Resolves REQUEST as the file FROM (a path inside a package, found from dockerode) would. */
function resolveFrom(from: string, request: string): string {
  const [pkg, ...rest] = from.split('/');
  const dockerode = requireHere.resolve('dockerode');
  const packageFile = pkg === 'dockerode' ? dockerode : createRequire(dockerode).resolve(pkg!);
  const base = packageFile.slice(0, packageFile.lastIndexOf(`/${pkg}/`) + pkg!.length + 2);
  return createRequire(`${base}${rest.join('/')}`).resolve(request);
}

function deferOptionalModules(): void {
  const cache = requireHere.cache;
  for (const { from, request, standIn } of deferred) {
    let path: string;
    try {
      path = resolveFrom(from, request);
    } catch {
      continue; // not installed where expected: dockerode loads as it would anyway
    }
    if (cache[path]) continue;
    let real: unknown;
    let loadedReal = false;
    const load: Loader = () => {
      if (!loadedReal) {
        if (cache[path] === stand) delete cache[path];
        real = requireHere(path);
        loadedReal = true;
      }
      return real;
    };
    const stand = new Module(path);
    stand.filename = path;
    stand.loaded = true;
    stand.exports = standIn(load);
    cache[path] = stand;
  }
}

let loading: Promise<typeof Dockerode> | undefined;

/** The dockerode constructor (imported once, with the optional modules deferred). */
export function loadDockerode(): Promise<typeof Dockerode> {
  loading ??= (async () => {
    deferOptionalModules();
    // require, not import(): dockerode is CommonJS, and the CLI bundle runs as a script (scripts/build.mjs).
    return requireHere('dockerode') as typeof Dockerode;
  })();
  return loading;
}
