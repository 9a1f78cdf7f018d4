/**
 * Runs the CLI as the process: exit codes from the outcome, and SIGINT / SIGTERM turned into an interruption
 * of the job, so every finalizer runs (run ended KILLED, logs flushed) before the process exits.
 *
 * @module
 */

import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import { Command } from "effect/cli"
import { isCliError } from "effect/cli/CliError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Exit codes of the CLI. */
export const ExitCode = {
  success: 0,
  jobFailed: 1,
  invocation: 2,
  sigint: 130,
  sigterm: 143
} as const

const signalCodes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: ExitCode.sigint, SIGTERM: ExitCode.sigterm }

/** The exit code for how the program ended (signals are handled before this is asked). */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return ExitCode.success
  const failures = exit.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? [reason.error] : []))
  const invocation = failures.some(
    (error) =>
      isCliError(error) ||
      (typeof error === "object" && error !== null && "_tag" in error && error._tag === "InvocationError")
  )
  if (invocation) return ExitCode.invocation
  return Cause.hasInterruptsOnly(exit.cause) ? ExitCode.sigint : ExitCode.jobFailed
}

/** Failures the CLI already reported itself (the job's logger, the config message, the CLI's own usage error). */
const alreadyReported = (cause: Cause.Cause<unknown>): boolean =>
  Cause.hasInterruptsOnly(cause) ||
  cause.reasons.every(
    (reason) =>
      reason._tag === "Fail" &&
      (isCliError(reason.error) ||
        (typeof reason.error === "object" &&
          reason.error !== null &&
          "_tag" in reason.error &&
          (reason.error._tag === "InvocationError" || reason.error._tag === "JobFailed")))
  )

/**
 * Runs `command` with `argv` as the process's work, through `NodeRuntime.runMain`: the first SIGINT or
 * SIGTERM interrupts it and, once all finalizers have run, the process exits with 130 or 143 (runMain alone
 * says 130 for both). A second signal while stopping exits at once. A failure nothing reported yet (a bug,
 * not a job failure) is printed before the process exits with 1.
 */
export const runMain = <Name extends string, Input, E, ContextInput>(
  command: Command.Command<Name, Input, ContextInput, E, never>,
  options: { readonly version: string; readonly argv?: ReadonlyArray<string> | undefined }
): void => {
  const argv = options.argv ?? process.argv.slice(2)
  let received: NodeJS.Signals | undefined
  // Registered before runMain's own listener (which interrupts the fiber), so the signal is known by then.
  const onSignal = (signal: NodeJS.Signals) => {
    if (received !== undefined) process.exit(signalCodes[signal] ?? ExitCode.jobFailed)
    received = signal
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  Command.runWith(command, { version: options.version })(argv).pipe(
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      teardown: (exit, onExit) => {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
        if (Exit.isFailure(exit) && !alreadyReported(exit.cause)) process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
        const code = received === undefined ? exitCodeOf(exit) : (signalCodes[received] ?? ExitCode.jobFailed)
        process.exitCode = code
        // runMain exits at once on a signal or a non-zero code; on success the loop empties by itself, and
        // this leaves anyway if something (a stray timer of a job) still holds it open.
        setTimeout(() => process.exit(code), 2_000).unref()
        onExit(code)
      }
    })
  )
}
