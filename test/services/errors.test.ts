import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { ConfigError } from "../../src/config/decode.js"
import { ServiceStartError } from "../../src/services/errors.js"

describe("ServiceStartError", () => {
  it.effect("its message names the service and the reason", () =>
    Effect.sync(() => {
      const error = new ServiceStartError({ service: "Mlflow", reason: "database is locked" })
      assert.strictEqual(error.message, "Mlflow service could not start: database is locked")
      assert.strictEqual(error._tag, "ServiceStartError")
      assert.strictEqual(error.service, "Mlflow")
      assert.strictEqual(error.reason, "database is locked")
      assert.isUndefined(error.cause)
      assert.instanceOf(error, Error)
      expect(String(error)).toContain("Mlflow service could not start: database is locked")
    })
  )

  it.effect("keeps the underlying cause", () =>
    Effect.sync(() => {
      const cause = new Error("EACCES: permission denied")
      const error = new ServiceStartError({ service: "Logger", reason: "cannot open log sink", cause })
      assert.strictEqual(error.cause, cause)
    })
  )

  it.effect("is a tagged error: yieldable, and recoverable with Effect.catchTag", () =>
    Effect.gen(function* () {
      const failing = Effect.gen(function* () {
        return yield* new ServiceStartError({ service: "Alerts", reason: "no channel" })
      })
      const exit = yield* Effect.exit(failing)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain("Alerts service could not start: no channel")
      const recovered = yield* failing.pipe(
        Effect.catchTag("ServiceStartError", (error) => Effect.succeed(`recovered from ${error.service}`))
      )
      assert.strictEqual(recovered, "recovered from Alerts")
    })
  )

  it.effect("catchTag for another tag leaves it in the error channel", () =>
    Effect.gen(function* () {
      const failing: Effect.Effect<never, ServiceStartError | ConfigError> = Effect.fail(
        new ServiceStartError({ service: "Mlflow", reason: "x" })
      )
      const error = yield* failing.pipe(
        Effect.catchTag("ConfigError", () => Effect.succeed("wrong handler")),
        Effect.flip
      )
      assert.instanceOf(error, ServiceStartError)
      assert.strictEqual(error.service, "Mlflow")
    })
  )
})
