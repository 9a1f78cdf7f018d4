import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { makeRestStore } from "../../src/tracking/rest.js"
import { describeInterop, type MlflowServer, startMlflowServer } from "../harness/python.js"
import { storeSuite } from "./store-suite.js"

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** A fresh directory, removed after the file's tests. */
const tempDir = (): string => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "autogen-rest-")))
  dirs.push(dir)
  return dir
}

describeInterop("RestTrackingStore", () => {
  // One sqlite-backed server for the shared suite: its tests keep apart by experiment name.
  let server: MlflowServer
  let serverDir: string
  beforeAll(async () => {
    serverDir = tempDir()
    server = await startMlflowServer({
      backendStoreUri: `sqlite:///${path.join(serverDir, "mlflow.db")}`,
      artifactsDestination: path.join(serverDir, "artifacts"),
      cwd: serverDir
    })
  })
  afterAll(() => server?.stop())

  storeSuite("RestTrackingStore on mlflow server (SQLite backend)", () =>
    Effect.map(makeRestStore({ uri: server.url }), (store) => ({ store, oracleUri: server.url, cwd: serverDir }))
  )
})
