/**
 * The user's home directory, as os.homedir() gives it on Linux and macOS
 * (libuv returns $HOME when it is set and not empty, else the password
 * database's entry; on Windows it would prefer USERPROFILE), without
 * loading node:os when $HOME answers: start-up is part of every command.
 * Undefined when there is none.
 */
export function homeDirectory(): string | undefined {
  const home = process.env.HOME;
  if (home) return home;
  try {
    return process.getBuiltinModule('node:os').homedir();
  } catch {
    // No $HOME and no password entry for this uid (a container run as an arbitrary
    // uid): no home, which callers take as no caches and no docker config.
    return undefined;
  }
}
