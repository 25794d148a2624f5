/**
 * The user's home directory, as os.homedir() gives it on Linux and macOS
 * (libuv returns $HOME when it is set and not empty, else the password
 * database's entry; on Windows it would prefer USERPROFILE), without
 * loading node:os when $HOME answers: start-up is part of every command.
 */
export function homeDirectory(): string {
  const home = process.env.HOME;
  return home ? home : process.getBuiltinModule('node:os').homedir();
}
