/**
 * The smallest job: define a kind, make an instance, run it with `Effect.runPromise`.
 *
 *   npx tsx examples/minimal.ts
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Job, Mlflow, runJob } from "../src/index.js"

/** Greets someone and records how long the greeting is. */
export class GreetingJob extends Job<GreetingJob>()("GreetingJob", { name: Schema.NonEmptyString }) {
  run() {
    const name = this.name
    return Effect.gen(function* () {
      const run = yield* Mlflow.currentRun
      const greeting = `Hello, ${name}!`
      yield* Effect.logInfo(greeting)
      yield* run.logMetric("greeting_length", greeting.length)
      return { greeting }
    })
  }
}

const job = new GreetingJob({ name: "world", mlflow_service: { tracking_uri: "sqlite:///mlflow.db" } })
const locals = await Effect.runPromise(runJob(job))
console.log(locals)
