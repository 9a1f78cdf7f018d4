/**
 * Temporary directories for the tests of one file, removed after them.
 *
 * @module
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "@effect/vitest"

/**
 * Returns a `tempDir()` that makes a fresh directory (`<os.tmpdir()>/<prefix>XXXXXX`, realpath'd), every one
 * removed after the file's tests. Call it once, at the top level of a test file: it registers that `afterAll`.
 */
export const tempDirs = (prefix: string): (() => string) => {
  const dirs: Array<string> = []
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)))
    dirs.push(dir)
    return dir
  }
}
