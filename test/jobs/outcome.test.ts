import { resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { errorSummary, maxSummaryLength, outcomeAlert, runLocation } from "../../src/jobs/outcome.js"
import type { RunInfo } from "../../src/tracking/store.js"

class Diverged extends Schema.TaggedError<Diverged>()("Diverged", {
  epoch: Schema.Int,
  token: Schema.Redacted(Schema.String)
}) {}

class WithMessage extends Schema.TaggedError<WithMessage>()("WithMessage", { message: Schema.String }) {}

const run = { runId: "0123456789abcdef0123456789abcdef", experimentId: "7" } as RunInfo

describe("errorSummary", () => {
  it("an error's own message", () => {
    expect(errorSummary(Cause.fail(new WithMessage({ message: "loss is NaN at epoch 3" })))).toBe(
      "loss is NaN at epoch 3"
    )
    expect(errorSummary(Cause.die(new RangeError("index out of range")))).toBe("index out of range")
  })

  it("an error without a message: its tag and fields, secrets masked", () => {
    const summary = errorSummary(Cause.fail(new Diverged({ epoch: 3, token: Redacted.make("s3cr3t") })))
    expect(summary).toBe('Diverged {"epoch":3,"token":"<redacted>"}')
  })

  it("plain values, and the first failure when there are several", () => {
    expect(errorSummary(Cause.fail("no data"))).toBe("no data")
    expect(errorSummary(Cause.die(42))).toBe("42")
    const both = Cause.combine(Cause.fail(new WithMessage({ message: "first" })), Cause.die(new Error("second")))
    expect(errorSummary(both)).toBe("first")
  })

  it("is cut to maxSummaryLength characters", () => {
    const summary = errorSummary(Cause.fail(new WithMessage({ message: "x".repeat(10_000) })))
    expect(summary).toHaveLength(maxSummaryLength)
    expect(summary.endsWith("…")).toBe(true)
  })
})

describe("runLocation", () => {
  it("sqlite: the mlflow ui command with an absolute path", () => {
    expect(runLocation("sqlite:///mlflow.db")).toBe(`mlflow ui --backend-store-uri sqlite:///${resolve("mlflow.db")}`)
    expect(runLocation("sqlite:////srv/runs/mlflow.db")).toBe(
      "mlflow ui --backend-store-uri sqlite:////srv/runs/mlflow.db"
    )
  })

  it("a tracking server: the run's page, without credentials", () => {
    expect(runLocation("https://ana:s3cret@mlflow.example.com:5000/", run)).toBe(
      "https://mlflow.example.com:5000/#/experiments/7/runs/0123456789abcdef0123456789abcdef"
    )
    expect(runLocation("http://127.0.0.1:5000")).toBe("http://127.0.0.1:5000")
  })

  it("memory: nowhere, for the memory store and for an in-memory SQLite database alike", () => {
    for (const uri of ["memory://", "sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///:memory:?x=1"]) {
      expect(runLocation(uri)).toBe("nowhere: the run was kept in memory only")
    }
  })
})

describe("outcomeAlert", () => {
  const outcome = { kind: "TrainingJob", run, durationSeconds: 12.345, trackingUri: "memory://", host: "gpu-1" }

  it("failure: `<KIND> failed`, the error, then the run, duration, host and where to look", () => {
    const alert = outcomeAlert({ ...outcome, exit: Exit.fail(new WithMessage({ message: "OOM" })), experiment: "x" })
    expect(alert).toEqual({
      title: "TrainingJob failed",
      message: `OOM (run ${run.runId}, 12.35 s on gpu-1; view: nowhere: the run was kept in memory only)`,
      level: "error",
      fields: {
        kind: "TrainingJob",
        status: "FAILED",
        run_id: run.runId,
        experiment: "x",
        duration: "12.35 s",
        host: "gpu-1",
        view: "nowhere: the run was kept in memory only"
      }
    })
  })

  it("interruption: `<KIND> interrupted`, KILLED, a warning", () => {
    const alert = outcomeAlert({ ...outcome, exit: Exit.failCause(Cause.interrupt()) })
    expect(alert.title).toBe("TrainingJob interrupted")
    expect(alert.level).toBe("warning")
    expect(alert.message).toMatch(/^interrupted \(run /)
    expect(alert.fields?.status).toBe("KILLED")
    expect(alert.fields).not.toHaveProperty("experiment")
  })

  it("success: `<KIND> finished`; without a run it says so", () => {
    const alert = outcomeAlert({ ...outcome, run: undefined, exit: Exit.succeed({}) })
    expect(alert.title).toBe("TrainingJob finished")
    expect(alert.level).toBe("success")
    expect(alert.message).toBe("finished (no run, 12.35 s on gpu-1; view: nowhere: the run was kept in memory only)")
    expect(alert.fields?.run_id).toBe("none")
  })
})
