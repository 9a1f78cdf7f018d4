/**
 * Errors shared by every service.
 *
 * @module
 */
import * as Schema from "effect/Schema"

/**
 * A service could not start, so the job did not run. Services started before it were stopped again.
 * `service` names which one; `cause` keeps the underlying error.
 */
export class ServiceStartError extends Schema.TaggedError<ServiceStartError>()("ServiceStartError", {
  service: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return `${this.service} service could not start: ${this.reason}`
  }
}
