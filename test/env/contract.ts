import type {} from 'vitest';

/**
 * What the test environment (test/env/global-setup.ts) hands every test:
 * real services on loopback, started or reused for this run.
 */

export interface RegistryEndpoint {
  /** host:port on loopback, plain HTTP, e.g. '127.0.0.1:5100'. */
  host: string;
  username?: string;
  password?: string;
}

export interface TokenRegistryEndpoint extends RegistryEndpoint {
  /** The token issuer's realm URL, e.g. 'http://127.0.0.1:5103/token'. */
  realm: string;
  /** The `service` the registry names in its challenge. */
  service: string;
}

export interface TestEnv {
  /** Docker engine endpoint, e.g. 'unix:///tmp/ivoc-test/docker.sock'. */
  dockerHost: string;
  registries: {
    /** CNCF distribution registry without auth. */
    anonymous: RegistryEndpoint;
    /** Same, with htpasswd Basic auth. */
    basic: RegistryEndpoint;
    /** Same, with `auth: token`; tokens come from our test token issuer. */
    token: TokenRegistryEndpoint;
  };
  /** A scratch directory for this test run (removed at teardown). */
  workDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testEnv: TestEnv;
  }
}
