/**
 * Builds `dist/` once before the suite: the CLI tests run the real `autogen-team` bin, as users do.
 */
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..")
  execFileSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "inherit"
    }
  )
}
