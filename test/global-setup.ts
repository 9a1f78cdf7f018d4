/**
 * Builds `dist/` once before the suite (`npm run build`: the library, and the bundled bin that package.json's
 * `bin` names): the CLI tests run the real `autogen-team` bin, as users do.
 */
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..")
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" })
}
