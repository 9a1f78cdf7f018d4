/**
 * The alert a job's outcome sends: what happened (the error, for a failure), which run recorded it, how long
 * it took, on which host, and where to look at the run. {@link runJob} sends one for every failure and
 * interruption, and for a success when `alerts_service.on_success` is set.
 *
 * @module
 */
import { resolve } from "node:path"
import type * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import type { AlertDetails } from "../services/alerts.js"
import { displayUri, statusFromExit } from "../services/mlflow.js"
import { isInMemorySqliteUri } from "../tracking/sqlite-uri.js"
import type { RunInfo } from "../tracking/store.js"

/** Longest error summary an alert carries; the whole error is in the job's log. */
export const maxSummaryLength = 2000

/** What a job's outcome alert says, ready for `Alerts.notify(title, message, details)`. */
export interface OutcomeAlert extends AlertDetails {
  readonly title: string
  readonly message: string
}

/** What {@link outcomeAlert} needs to know about a finished job. */
export interface JobOutcome {
  readonly kind: string
  readonly exit: Exit.Exit<unknown, unknown>
  /** The job's run, when one was opened. */
  readonly run: RunInfo | undefined
  readonly durationSeconds: number
  /** The tracking URI (without credentials), to say where to look at the run. */
  readonly trackingUri: string
  readonly experiment?: string | undefined
  readonly host: string
}

/**
 * The first failure of a cause, as one readable text: the error's message; for an error without one, its
 * tag and fields (`JobFailed {"reason":"boom"}` — `Redacted` fields show as `<redacted>`); cut to
 * {@link maxSummaryLength} characters.
 */
export const errorSummary = (cause: Cause.Cause<unknown>): string => {
  const reason =
    cause.reasons.find((candidate) => candidate._tag === "Fail") ??
    cause.reasons.find((candidate) => candidate._tag === "Die")
  if (reason === undefined) return "interrupted"
  const error = reason._tag === "Fail" ? reason.error : reason._tag === "Die" ? reason.defect : undefined
  const text = describe(error)
  return text.length <= maxSummaryLength ? text : `${text.slice(0, maxSummaryLength - 1)}…`
}

const describe = (error: unknown): string => {
  if (error instanceof Error && error.message !== "") return error.message
  if (typeof error === "object" && error !== null) {
    const { _tag: tag, ...fields } = JSON.parse(safeJson(error) ?? "{}") as Record<string, unknown>
    const name = typeof tag === "string" ? tag : error instanceof Error ? error.name : "error"
    return Object.keys(fields).length === 0 ? name : `${name} ${safeJson(fields) ?? ""}`.trim()
  }
  return String(error)
}

const safeJson = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

/**
 * Where to look at a run: the `mlflow ui` command for an SQLite store (its path made absolute, so the
 * command works from any directory of that host), the run's page for a tracking server, or "nowhere" for a
 * store in memory (`memory://`, or an in-memory SQLite database such as `sqlite:///:memory:`).
 */
export const runLocation = (trackingUri: string, run?: RunInfo): string => {
  if (isInMemorySqliteUri(trackingUri)) return keptInMemory
  if (trackingUri.startsWith("sqlite:///")) {
    const path = trackingUri.slice("sqlite:///".length)
    return `mlflow ui --backend-store-uri sqlite:///${resolve(path)}`
  }
  if (/^https?:\/\//i.test(trackingUri)) {
    const base = displayUri(trackingUri).replace(/\/+$/, "")
    return run === undefined ? base : `${base}/#/experiments/${run.experimentId}/runs/${run.runId}`
  }
  return keptInMemory
}

const keptInMemory = "nowhere: the run was kept in memory only"

const levels = { FINISHED: "success", FAILED: "error", KILLED: "warning" } as const
const verbs = { FINISHED: "finished", FAILED: "failed", KILLED: "interrupted" } as const

/**
 * The alert for a job's outcome — title `<KIND> failed` / `<KIND> interrupted` / `<KIND> finished`; the
 * message says what happened (the {@link errorSummary} of a failure) followed by
 * `(run <id>, <seconds> s on <host>; view: <where>)`, so the console line alone tells the whole story; the
 * same facts are the fields `kind`, `status`, `run_id`, `experiment`, `duration`, `host`, `view`.
 */
export const outcomeAlert = (outcome: JobOutcome): OutcomeAlert => {
  // The run's own status rule: interruption alone is KILLED, any failure FAILED.
  const status = statusFromExit(outcome.exit)
  const verb = verbs[status]
  const duration = `${outcome.durationSeconds.toFixed(2)} s`
  const view = runLocation(outcome.trackingUri, outcome.run)
  const what = Exit.isFailure(outcome.exit) && status === "FAILED" ? errorSummary(outcome.exit.cause) : verb
  const runText = outcome.run === undefined ? "no run" : `run ${outcome.run.runId}`
  return {
    title: `${outcome.kind} ${verb}`,
    message: `${what} (${runText}, ${duration} on ${outcome.host}; view: ${view})`,
    level: levels[status],
    fields: {
      kind: outcome.kind,
      status,
      run_id: outcome.run?.runId ?? "none",
      ...(outcome.experiment === undefined ? {} : { experiment: outcome.experiment }),
      duration,
      host: outcome.host,
      view
    }
  }
}
