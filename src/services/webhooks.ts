/**
 * The JSON bodies webhook channels POST, one per service: Slack (incoming webhook, Block Kit), Discord
 * (webhook, one embed), Microsoft Teams (Workflows webhook, an Adaptive Card) and a generic one. Pure
 * functions of an {@link Alert}: every text is cut to the limits the service documents, so a long error
 * message cannot make the service refuse the whole alert.
 *
 * @module
 */
import { truncate } from "../internal/http.js"
import type { Alert, AlertLevel } from "./alerts.js"

const levelOf = (alert: Alert): AlertLevel => alert.level ?? "info"
const fieldsOf = (alert: Alert): ReadonlyArray<readonly [string, string]> => Object.entries(alert.fields ?? {})

// Slack reads `&`, `<` and `>` as markup (`<!channel>` notifies everyone): text from an error message must
// not be able to do that.
const slackEscape = (text: string): string =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const slackEmoji: Record<AlertLevel, string> = {
  info: ":information_source:",
  success: ":white_check_mark:",
  warning: ":warning:",
  error: ":red_circle:"
}

/**
 * A Slack incoming-webhook message: `text` (what notifications show) plus blocks — a header with the title,
 * the message, up to 10 fields, and a context line with the app name and date. Limits: header 150,
 * section 3000 and field 2000 characters.
 */
export const slackPayload = (alert: Alert): Record<string, unknown> => {
  const level = levelOf(alert)
  const fields = fieldsOf(alert)
  const blocks: Array<Record<string, unknown>> = [
    {
      type: "header",
      text: { type: "plain_text", text: truncate(`${slackEmoji[level]} ${alert.title}`, 150), emoji: true }
    }
  ]
  if (alert.message !== "") {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(slackEscape(alert.message), 3000) } })
  }
  if (fields.length > 0) {
    blocks.push({
      type: "section",
      fields: fields.slice(0, 10).map(([name, value]) => ({
        type: "mrkdwn",
        text: truncate(`*${slackEscape(name)}*\n${slackEscape(value)}`, 2000)
      }))
    })
  }
  blocks.push({
    type: "context",
    elements: [{ type: "mrkdwn", text: slackEscape(`${alert.appName} · ${alert.date.toISOString()}`) }]
  })
  return { text: truncate(slackEscape(`${alert.title}: ${alert.message}`), 3000), blocks }
}

/** Embed colours by level (Discord wants an integer RGB). */
export const discordColors: Record<AlertLevel, number> = {
  info: 0x3b82f6,
  success: 0x22c55e,
  warning: 0xf59e0b,
  error: 0xef4444
}

/**
 * A Discord webhook message: one embed with the title, the message as description, up to 25 fields, the
 * level's colour, the date and the app name as footer; mentions disabled (`allowed_mentions`), so an
 * `@everyone` in an error message pings nobody. Limits: title 256, description 4096, field name 256 and
 * value 1024 characters, 6000 in all (fields get what the title, message and footer leave).
 */
export const discordPayload = (alert: Alert): Record<string, unknown> => {
  const title = truncate(alert.title, 256)
  const footer = truncate(alert.appName, 256)
  const description = truncate(alert.message, 4096)
  // The message matters most, so fields get what the 6000 characters leave, in order; those that do not
  // fit are left out (the generic webhook and the log still have them).
  let left = 6000 - title.length - footer.length - description.length
  const fields: Array<{ readonly name: string; readonly value: string; readonly inline: boolean }> = []
  for (const [rawName, rawValue] of fieldsOf(alert).slice(0, 25)) {
    const name = truncate(rawName === "" ? "-" : rawName, 256)
    const room = Math.min(1024, left - name.length)
    if (room < 1) break
    const value = truncate(rawValue === "" ? "-" : rawValue, room)
    fields.push({ name, value, inline: rawValue.length <= 40 })
    left -= name.length + value.length
  }
  const embed: Record<string, unknown> = {
    color: discordColors[levelOf(alert)],
    timestamp: alert.date.toISOString(),
    footer: { text: footer }
  }
  if (title !== "") embed.title = title
  if (description !== "") embed.description = description
  if (fields.length > 0) embed.fields = fields
  return { embeds: [embed], allowed_mentions: { parse: [] } }
}

const teamsColors: Record<AlertLevel, string> = {
  info: "Accent",
  success: "Good",
  warning: "Warning",
  error: "Attention"
}

/**
 * A Microsoft Teams Workflows webhook message ("When a Teams webhook request is received" → "Post card in
 * a chat or channel"): a `message` with one Adaptive Card 1.4 attachment — the title in the level's
 * colour, the message, the fields as a FactSet, and the app name and date. Workflows accept Adaptive Cards
 * only; the retired Office 365 connector format (MessageCard) is not sent. To stay under Teams' 28 KB
 * message size, the message is cut to 10,000 characters and the facts to 20 of at most 600.
 */
export const teamsPayload = (alert: Alert): Record<string, unknown> => {
  const body: Array<Record<string, unknown>> = [
    {
      type: "TextBlock",
      text: truncate(alert.title, 1000),
      weight: "Bolder",
      size: "Medium",
      color: teamsColors[levelOf(alert)],
      wrap: true,
      style: "heading"
    }
  ]
  if (alert.message !== "") body.push({ type: "TextBlock", text: truncate(alert.message, 10_000), wrap: true })
  const fields = fieldsOf(alert)
  if (fields.length > 0) {
    body.push({
      type: "FactSet",
      facts: fields.slice(0, 20).map(([title, value]) => ({ title: truncate(title, 100), value: truncate(value, 500) }))
    })
  }
  body.push({
    type: "TextBlock",
    text: `${alert.appName} · ${alert.date.toISOString()}`,
    isSubtle: true,
    size: "Small",
    wrap: true
  })
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          msteams: { width: "Full" },
          body
        }
      }
    ]
  }
}

/**
 * The generic webhook body: `{ app_name, title, message, level, date, fields, text }` — `date` in ISO 8601,
 * `fields` an object (empty when the alert has none), and `text` the console line, for services that show a
 * `text` field (Mattermost, Rocket.Chat…). Nothing is cut.
 */
export const webhookPayload = (alert: Alert): Record<string, unknown> => ({
  app_name: alert.appName,
  title: alert.title,
  message: alert.message,
  level: levelOf(alert),
  date: alert.date.toISOString(),
  fields: { ...alert.fields },
  text: `[${alert.appName}] ${alert.title}: ${alert.message}`
})

/** The body each webhook channel type sends. */
export const webhookPayloads = {
  slack: slackPayload,
  discord: discordPayload,
  teams: teamsPayload,
  webhook: webhookPayload
} as const satisfies Record<string, (alert: Alert) => Record<string, unknown>>
