import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { type Alert, AlertError, httpChannel } from "../../src/services/alerts.js"
import { postAlert, scrub, secretsOf } from "../../src/services/http-channel.js"
import { webhookPayload } from "../../src/services/webhooks.js"
import { webhookServer } from "../fixtures/webhook-server.js"

const alert: Alert = { title: "Done", message: "ok", appName: "app", date: new Date(0) }

describe("secretsOf / scrub", () => {
  it("the URL whole and in parts (path, query, long segments, query values), and header values", () => {
    const secrets = secretsOf("https://hooks.example.com/services/T0/B0/tokenABC123?sig=sigXYZ789&v=1", {
      Authorization: Redacted.make("Bearer bearerTok42")
    })
    expect(secrets).toEqual(
      expect.arrayContaining([
        "https://hooks.example.com/services/T0/B0/tokenABC123?sig=sigXYZ789&v=1",
        "/services/T0/B0/tokenABC123?sig=sigXYZ789&v=1",
        "tokenABC123",
        "sigXYZ789",
        "Bearer bearerTok42",
        "bearerTok42"
      ])
    )
    // Short parts are not secrets: replacing them would garble messages.
    expect(secrets).not.toContain("T0")
    expect(secrets).not.toContain("1")
    // Longest first, so a whole is replaced before a part of it.
    expect([...secrets].sort((a, b) => b.length - a.length)).toEqual(secrets)
  })

  it("scrub replaces every occurrence", () => {
    const secrets = secretsOf("https://x.example/hook/abcdef123")
    expect(scrub("POST https://x.example/hook/abcdef123 failed; token abcdef123 again abcdef123", secrets)).toBe(
      "POST <redacted> failed; token <redacted> again <redacted>"
    )
  })
})

describe("postAlert (a real HTTP server on 127.0.0.1)", () => {
  it.live("POSTs the payload as JSON; 2xx answers (200, 202, 204) deliver", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/accepted": () => ({ status: 202 }),
        "/empty": () => ({ status: 204 })
      })
      for (const path of ["/ok", "/accepted", "/empty"]) {
        yield* postAlert({ name: path, url: Redacted.make(server.url(path)), payload: webhookPayload }, alert)
      }
      expect(server.requests().map((request) => [request.method, request.url])).toEqual([
        ["POST", "/ok"],
        ["POST", "/accepted"],
        ["POST", "/empty"]
      ])
      expect(JSON.parse(server.requests()[0]!.body)).toEqual(webhookPayload(alert))
    })
  )

  it.live("configured headers are sent, and may replace the content type", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer()
      yield* postAlert(
        {
          name: "custom",
          url: Redacted.make(server.url("/custom")),
          headers: {
            "Content-Type": Redacted.make("application/vnd.alerts+json"),
            "X-Signature": Redacted.make("sha256=abc")
          },
          payload: () => ({ custom: true })
        },
        alert
      )
      const [request] = server.requests()
      expect(request?.headers["content-type"]).toBe("application/vnd.alerts+json")
      expect(request?.headers["x-signature"]).toBe("sha256=abc")
      expect(request?.body).toBe('{"custom":true}')
    })
  )

  it.live("a payload that throws is this channel's AlertError, described without the secrets", () =>
    Effect.gen(function* () {
      const url = "http://127.0.0.1:9/hooks/tok-s3cr3t-9f8e"
      const error = yield* Effect.flip(
        postAlert(
          {
            name: "broken",
            url: Redacted.make(url),
            payload: () => {
              throw new Error(`cannot build a body for ${url}`)
            }
          },
          alert
        )
      )
      assert.instanceOf(error, AlertError)
      expect(error.channel).toBe("broken")
      expect(error.message).toBe("alert channel broken failed: crashed: cannot build a body for <redacted>")
    })
  )

  it.live("httpChannel loads this module on first use and posts through it", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer()
      const channel = httpChannel({ name: "lazy", url: Redacted.make(server.url("/lazy")), payload: webhookPayload })
      expect(channel.name).toBe("lazy")
      yield* channel.send(alert)
      expect(server.requestsTo("/lazy")).toHaveLength(1)
    })
  )
})
