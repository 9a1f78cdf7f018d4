/**
 * src/tracking/store.ts: the storage seam is types, plus the one error every store fails with.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TrackingError } from "../../src/tracking/store.js"

describe("TrackingError", () => {
  it("says which operation failed on which store, and why; keeps the cause for debugging", () => {
    const cause = new Error("SQLITE_BUSY: database is locked")
    const error = new TrackingError({ operation: "logBatch", uri: "sqlite:///mlflow.db", reason: "locked", cause })
    expect(error._tag).toBe("TrackingError")
    expect(error.message).toBe("MLflow logBatch failed on sqlite:///mlflow.db: locked")
    expect(error.cause).toBe(cause)
    expect(error).toBeInstanceOf(Error)
  })

  it.effect("is a typed failure that catchTag selects", () =>
    Effect.gen(function* () {
      const reason = yield* new TrackingError({ operation: "createRun", uri: "memory://", reason: "x" }).pipe(
        Effect.catchTag("TrackingError", (error) => Effect.succeed(error.operation))
      )
      expect(reason).toBe("createRun")
    })
  )
})
