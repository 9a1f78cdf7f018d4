/**
 * The benchmark report: a Markdown table (bench/results.md, quoted by the README) and an SVG chart
 * (docs/bench.svg) of how many times faster than the Python anchor each comparable benchmark is.
 */

/** One line of the report. `ratio` is ours / Python (lower is better); absent where there is no anchor. */
export interface Row {
  readonly id: string
  readonly what: string
  readonly ours: string
  readonly anchor: string
  readonly ratio: number | undefined
  readonly goal: string
  readonly met: boolean
  /** What a ratio below 1 means: "faster" (time, the default) or "less memory". */
  readonly better?: "faster" | "less memory"
}

/** Where and with what the figures were measured. */
export type Machine = Readonly<Record<string, string>>

const ratioText = (row: Row): string =>
  row.ratio === undefined ? "—" : `${row.ratio.toFixed(3)}× (${(1 / row.ratio).toFixed(1)}× ${row.better ?? "faster"})`

/** The report as Markdown: the machine, then one table row per measurement. */
export const renderMarkdown = (rows: ReadonlyArray<Row>, machine: Machine): string =>
  [
    "# Benchmarks: autogen-team vs Python MLflow",
    "",
    "Written by `npm run bench` (bench/run.ts); every Python anchor was measured in the same run. Medians.",
    "",
    ...Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`),
    "",
    "| | benchmark | autogen-team | Python anchor | ours / Python | goal | met |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (row) =>
        `| ${row.id} | ${row.what} | ${row.ours} | ${row.anchor} | ${ratioText(row)} | ${row.goal} | ${row.met ? "yes" : "**no**"} |`
    ),
    "",
    "![speed-up over Python MLflow](../docs/bench.svg)",
    ""
  ].join("\n")

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** Horizontal bars of the speed-up (Python / ours) on a log scale, for rows that have an anchor. */
export const renderChart = (rows: ReadonlyArray<Row>): string => {
  const bars = rows.filter((row) => row.ratio !== undefined && row.ratio > 0 && (row.better ?? "faster") === "faster")
  const labels = bars.map((row) => `${row.id} ${row.what}`)
  // About 7 px a character at 13 px sans-serif: the longest label decides where the bars start.
  const label = 20 + 7 * Math.max(0, ...labels.map((text) => text.length))
  const width = label + 420
  const barHeight = 26
  const top = 40
  const height = top + bars.length * (barHeight + 10) + 30
  const maxSpeedup = Math.max(10, ...bars.map((row) => 1 / row.ratio!))
  const scale = (speedup: number) => ((width - label - 80) * Math.log10(Math.max(1, speedup))) / Math.log10(maxSpeedup)
  const items = bars.map((row, index) => {
    const y = top + index * (barHeight + 10)
    const speedup = 1 / row.ratio!
    const length = Math.max(2, scale(speedup))
    return [
      `<text x="${label - 8}" y="${y + 18}" text-anchor="end">${escapeXml(`${row.id} ${row.what}`)}</text>`,
      `<rect x="${label}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${row.met ? "#2e7d32" : "#c62828"}"/>`,
      `<text x="${(label + length + 6).toFixed(1)}" y="${y + 18}">${speedup.toFixed(1)}×</text>`
    ].join("")
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">Times faster than Python MLflow 3.18.0 (log scale; green: goal met)</text>`,
    ...items,
    `<line x1="${label}" y1="${top - 6}" x2="${label}" y2="${height - 24}" stroke="#444"/>`,
    "</svg>",
    ""
  ].join("\n")
}
