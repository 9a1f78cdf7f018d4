/**
 * `describe` for suites that need something the machine may lack (Python mlflow, PostgreSQL): they run when it
 * is there; otherwise they are skipped with the reason in their name, or, with `AUTOGEN_REQUIRE_INTEROP=1`
 * (CI), a failing test takes their place, so a missing dependency can never pass for green.
 *
 * @module
 */
import { describe, it } from "@effect/vitest"

/** What a suite needs, and what to say when it is missing. */
export interface Requirement {
  readonly available: boolean
  /** The failing test's name is `<suite name>: <required> required`. */
  readonly required: string
  /** The failing test's error under `AUTOGEN_REQUIRE_INTEROP=1`. */
  readonly missing: string
  /** The skipped suite's name is `<suite name> (skipped: <skipped>)`. */
  readonly skipped: string
}

/** `describe(name, fn)` when `requirement` is available; otherwise skipped or failing (see the module comment). */
export const describeRequiring = (requirement: Requirement, name: string, fn: () => void): void => {
  if (requirement.available) {
    describe(name, fn)
  } else if (process.env.AUTOGEN_REQUIRE_INTEROP === "1") {
    describe(name, () => {
      it(`${name}: ${requirement.required} required`, () => {
        throw new Error(requirement.missing)
      })
    })
  } else {
    describe.skip(`${name} (skipped: ${requirement.skipped})`, fn)
  }
}
