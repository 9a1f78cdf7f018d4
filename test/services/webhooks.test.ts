import { describe, expect, it } from "@effect/vitest"
import type { Alert } from "../../src/services/alerts.js"
import {
  discordColors,
  discordPayload,
  slackPayload,
  teamsPayload,
  webhookPayload,
  webhookPayloads
} from "../../src/services/webhooks.js"

const date = new Date("2026-01-02T03:04:05.678Z")
const alert = (overrides: Partial<Alert> = {}): Alert => ({
  title: "Nightly training failed",
  message: "loss diverged",
  appName: "trainer",
  date,
  ...overrides
})

type Json = Record<string, unknown>
const blocksOf = (payload: Json) => payload.blocks as ReadonlyArray<Json>
const embedOf = (payload: Json) => (payload.embeds as ReadonlyArray<Json>)[0]!
const cardOf = (payload: Json) =>
  ((payload.attachments as ReadonlyArray<Json>)[0]!.content as Json).body as ReadonlyArray<Json>

describe("slackPayload", () => {
  it("text for notifications, then header, message, fields and context blocks", () => {
    const payload = slackPayload(alert({ level: "error", fields: { run_id: "abc" } }))
    expect(payload.text).toBe("Nightly training failed: loss diverged")
    expect(blocksOf(payload).map((block) => block.type)).toEqual(["header", "section", "section", "context"])
    expect(blocksOf(payload)[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: ":red_circle: Nightly training failed", emoji: true }
    })
  })

  it("escapes &, < and > so an error message cannot mention @channel or fake a link", () => {
    const payload = slackPayload(alert({ message: "<!channel> a < b && c > d", fields: { "<k>": "<v>" } }))
    const text = JSON.stringify(payload)
    expect(text).not.toContain("<!channel>")
    expect(blocksOf(payload)[1]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: "&lt;!channel&gt; a &lt; b &amp;&amp; c &gt; d" }
    })
    expect(JSON.stringify(blocksOf(payload)[2])).toContain("*&lt;k&gt;*\\n&lt;v&gt;")
  })

  it("respects Slack's limits: header 150, section 3000, 10 fields of 2000; no empty section", () => {
    const fields = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`f${i}`, "v".repeat(5000)]))
    const payload = slackPayload(alert({ title: "t".repeat(500), message: "m".repeat(10_000), fields }))
    const [header, section, fieldSection] = blocksOf(payload)
    expect(((header!.text as Json).text as string).length).toBeLessThanOrEqual(150)
    expect(((section!.text as Json).text as string).length).toBeLessThanOrEqual(3000)
    const shown = fieldSection!.fields as ReadonlyArray<Json>
    expect(shown).toHaveLength(10)
    for (const field of shown) expect((field.text as string).length).toBeLessThanOrEqual(2000)
    expect((payload.text as string).length).toBeLessThanOrEqual(3000)
    expect(blocksOf(slackPayload(alert({ message: "" }))).map((block) => block.type)).toEqual(["header", "context"])
  })
})

describe("discordPayload", () => {
  it("one embed coloured by level, mentions disabled", () => {
    const payload = discordPayload(alert({ level: "warning", message: "@everyone look" }))
    expect(payload.allowed_mentions).toEqual({ parse: [] })
    expect(embedOf(payload)).toEqual({
      title: "Nightly training failed",
      description: "@everyone look",
      color: discordColors.warning,
      timestamp: date.toISOString(),
      footer: { text: "trainer" }
    })
    expect(embedOf(discordPayload(alert())).color).toBe(discordColors.info)
  })

  it("respects Discord's limits: 25 fields, name 256, value 1024, description 4096, 6000 in all", () => {
    const fields = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`${i}`.repeat(300), "v".repeat(2000)]))
    const embed = embedOf(discordPayload(alert({ title: "t".repeat(400), message: "m".repeat(10_000), fields })))
    const shown = embed.fields as ReadonlyArray<{ name: string; value: string }>
    expect(shown.length).toBeGreaterThan(0)
    expect(shown.length).toBeLessThanOrEqual(25)
    for (const field of shown) {
      expect(field.name.length).toBeLessThanOrEqual(256)
      expect(field.value.length).toBeLessThanOrEqual(1024)
    }
    const total =
      (embed.title as string).length +
      ((embed.description as string | undefined) ?? "").length +
      ((embed.footer as Json).text as string).length +
      shown.reduce((sum, field) => sum + field.name.length + field.value.length, 0)
    expect((embed.title as string).length).toBeLessThanOrEqual(256)
    expect(total).toBeLessThanOrEqual(6000)
    // The message keeps its 4096 characters: fields give way first.
    expect(embed.description).toHaveLength(4096)
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, "v"]))
    expect(embedOf(discordPayload(alert({ fields: many }))).fields).toHaveLength(25)
  })

  it("an empty field value is shown as '-' (Discord refuses empty values)", () => {
    const embed = embedOf(discordPayload(alert({ fields: { note: "" } })))
    expect(embed.fields).toEqual([{ name: "note", value: "-", inline: true }])
  })
})

describe("teamsPayload", () => {
  it("a Workflows message with one Adaptive Card 1.4, not the retired MessageCard", () => {
    const payload = teamsPayload(alert({ level: "error", fields: { run_id: "abc" } }))
    expect(payload.type).toBe("message")
    const [attachment] = payload.attachments as ReadonlyArray<Json>
    expect(attachment).toMatchObject({ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null })
    expect(attachment!.content).toMatchObject({ type: "AdaptiveCard", version: "1.4" })
    expect(cardOf(payload).map((element) => element.type)).toEqual(["TextBlock", "TextBlock", "FactSet", "TextBlock"])
    expect(cardOf(payload)[0]).toMatchObject({ text: "Nightly training failed", color: "Attention" })
    expect(cardOf(payload)[2]).toEqual({ type: "FactSet", facts: [{ title: "run_id", value: "abc" }] })
    const text = JSON.stringify(payload)
    expect(text).not.toMatch(/"@type"|MessageCard|themeColor|sections/)
  })

  it("long messages and many fields are cut so the card stays under Teams' 28 KB", () => {
    const fields = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`${i}`.repeat(300), "v".repeat(5000)]))
    const payload = teamsPayload(alert({ title: "t".repeat(5000), message: "m".repeat(100_000), fields }))
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThan(28 * 1024)
  })
})

describe("webhookPayload", () => {
  it("the generic body: app_name, title, message, level (default info), ISO date, fields, text", () => {
    expect(webhookPayload(alert())).toEqual({
      app_name: "trainer",
      title: "Nightly training failed",
      message: "loss diverged",
      level: "info",
      date: "2026-01-02T03:04:05.678Z",
      fields: {},
      text: "[trainer] Nightly training failed: loss diverged"
    })
  })

  it("webhookPayloads maps each channel type to its body", () => {
    expect(Object.keys(webhookPayloads)).toEqual(["slack", "discord", "teams", "webhook"])
    expect(webhookPayloads.teams(alert())).toEqual(teamsPayload(alert()))
  })
})
