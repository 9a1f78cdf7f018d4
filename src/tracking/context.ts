/**
 * The tags MLflow's own client sets on every run from where it runs: user, source, git commit, host.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs"
import { hostname, userInfo } from "node:os"
import { dirname, join, resolve } from "node:path"
import type { Tag } from "./store.js"

/** The user MLflow records: the OS account name, as Python MLflow's `getpass.getuser()` gives it. */
export const currentUser = (): string => {
  try {
    return userInfo().username
  } catch {
    // Containers running as an uid without a passwd entry make userInfo() throw.
    return process.env.USER ?? process.env.LOGNAME ?? "unknown"
  }
}

const findGitDir = (from: string): string | undefined => {
  let dir = resolve(from)
  for (;;) {
    const candidate = join(dir, ".git")
    if (existsSync(candidate)) {
      if (statSync(candidate).isDirectory()) return candidate
      // Worktrees and submodules have a `.git` file pointing at the real git directory.
      const match = /^gitdir:\s*(.+)$/m.exec(readFileSync(candidate, "utf8"))
      return match?.[1] ? resolve(dir, match[1].trim()) : undefined
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

const readRef = (gitDir: string, ref: string): string | undefined => {
  const loose = join(gitDir, ref)
  if (existsSync(loose)) return readFileSync(loose, "utf8").trim()
  // Worktrees keep shared refs in the common directory.
  const commonFile = join(gitDir, "commondir")
  const commonDir = existsSync(commonFile) ? resolve(gitDir, readFileSync(commonFile, "utf8").trim()) : gitDir
  const sharedLoose = join(commonDir, ref)
  if (existsSync(sharedLoose)) return readFileSync(sharedLoose, "utf8").trim()
  const packed = join(commonDir, "packed-refs")
  if (!existsSync(packed)) return undefined
  for (const line of readFileSync(packed, "utf8").split("\n")) {
    const [sha, name] = line.split(" ")
    if (name === ref && sha) return sha
  }
  return undefined
}

/**
 * The commit checked out in the git repository containing `cwd`, read from `.git` directly (no `git`
 * process: it costs start-up time and may not be installed). `undefined` outside a repository or before
 * the first commit.
 */
export const gitCommit = (cwd: string = process.cwd()): string | undefined => {
  try {
    const gitDir = findGitDir(cwd)
    if (!gitDir) return undefined
    const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim()
    const commit = head.startsWith("ref: ") ? readRef(gitDir, head.slice(5).trim()) : head
    return commit && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit) ? commit : undefined
  } catch {
    return undefined
  }
}

/**
 * The run tags describing where a run comes from, with MLflow's reserved keys so its UI shows them:
 * `mlflow.user`, `mlflow.source.name`, `mlflow.source.type`, `mlflow.source.git.commit` (in a repository),
 * and `host`.
 */
export const sourceTags = (cwd: string = process.cwd()): ReadonlyArray<Tag> => {
  const script = process.argv[1]
  const commit = gitCommit(cwd)
  return [
    { key: "mlflow.user", value: currentUser() },
    { key: "mlflow.source.name", value: script ?? process.argv0 },
    { key: "mlflow.source.type", value: "LOCAL" },
    ...(commit ? [{ key: "mlflow.source.git.commit", value: commit }] : []),
    { key: "host", value: hostname() }
  ]
}
