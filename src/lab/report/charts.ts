// Inline SVG bar charts with a table of the same numbers under each: no script, no font, no request.

/** One series of a chart: a value per category (null: not measured), and optional text instead of the number. */
export interface Series {
  readonly name: string
  readonly values: readonly (number | null)[]
  /** Shown instead of `format(value)` where given ("never (> 3.5 s)"). */
  readonly labels?: readonly (string | undefined)[]
}

export interface BarChart {
  /** Unique on the page: ids of the title and description derive from it. */
  readonly id: string
  readonly title: string
  /** One or two sentences: what is shown and how to read it (also the SVG's description). */
  readonly description: string
  /** The unit of the axis, for the table's header: "req/s", "ms", "%". */
  readonly unit: string
  readonly categories: readonly string[]
  readonly series: readonly Series[]
  readonly format: (value: number) => string
  /** The axis ends here at least (100 for percentages). */
  readonly max?: number
}

/** Okabe–Ito: told apart by the colour-blind too. */
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000']
const WIDTH = 760
const LABEL_WIDTH = 150
const VALUE_ROOM = 110
const BAR = 14
const GAP = 3
const GROUP_GAP = 12
const TOP = 34
const BOTTOM = 26

/** `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** A round axis end at or above `max`: 1, 2 or 5 times a power of ten. */
function niceCeiling(max: number): number {
  if (max <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power
  return 10 * power
}

/** The chart as an SVG figure followed by its numbers as a table. */
export function renderBarChart(chart: BarChart): string {
  const values = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null))
  const axisMax = niceCeiling(Math.max(chart.max ?? 0, ...values))
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_ROOM
  const groupHeight = chart.series.length * (BAR + GAP) - GAP
  const height = TOP + chart.categories.length * (groupHeight + GROUP_GAP) - GROUP_GAP + BOTTOM
  const x = (value: number) => LABEL_WIDTH + (Math.max(0, value) / axisMax) * plotWidth
  const parts: string[] = []
  // Legend across the top.
  let legendX = LABEL_WIDTH
  for (const [i, series] of chart.series.entries()) {
    parts.push(
      `<rect x="${legendX}" y="6" width="12" height="12" fill="${COLOURS[i % COLOURS.length]}"/>`,
      `<text x="${legendX + 16}" y="16" class="legend">${escapeHtml(series.name)}</text>`,
    )
    legendX += 28 + series.name.length * 7
  }
  // Grid and axis values.
  for (let tick = 0; tick <= 4; tick++) {
    const value = (axisMax * tick) / 4
    const tx = x(value)
    parts.push(
      `<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${height - BOTTOM + 2}" class="grid"/>`,
      `<text x="${tx}" y="${height - 8}" class="tick" text-anchor="middle">${escapeHtml(chart.format(value))}</text>`,
    )
  }
  for (const [c, category] of chart.categories.entries()) {
    const top = TOP + c * (groupHeight + GROUP_GAP)
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${top + groupHeight / 2 + 4}" class="category" text-anchor="end">${escapeHtml(category)}</text>`,
    )
    for (const [s, series] of chart.series.entries()) {
      const value = series.values[c] ?? null
      const y = top + s * (BAR + GAP)
      const text = series.labels?.[c] ?? (value === null ? 'n/a' : chart.format(value))
      const end = value === null ? LABEL_WIDTH : x(value)
      if (value !== null)
        parts.push(
          `<rect x="${LABEL_WIDTH}" y="${y}" width="${Math.max(1, end - LABEL_WIDTH).toFixed(1)}" height="${BAR}" fill="${COLOURS[s % COLOURS.length]}"><title>${escapeHtml(`${category}, ${series.name}: ${text}`)}</title></rect>`,
        )
      parts.push(
        `<text x="${(end + 4).toFixed(1)}" y="${y + BAR - 3}" class="value">${escapeHtml(text)}</text>`,
      )
    }
  }
  const titleId = `${chart.id}-title`
  const descId = `${chart.id}-desc`
  const svg = [
    `<svg viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-labelledby="${titleId} ${descId}">`,
    `<title id="${titleId}">${escapeHtml(chart.title)}</title>`,
    `<desc id="${descId}">${escapeHtml(chart.description)}</desc>`,
    ...parts,
    '</svg>',
  ].join('\n')
  const header = `<tr><th scope="col">${escapeHtml(chart.unit)}</th>${chart.series.map((s) => `<th scope="col">${escapeHtml(s.name)}</th>`).join('')}</tr>`
  const body = chart.categories
    .map(
      (category, c) =>
        `<tr><th scope="row">${escapeHtml(category)}</th>${chart.series
          .map((s) => {
            const value = s.values[c] ?? null
            return `<td>${escapeHtml(s.labels?.[c] ?? (value === null ? 'n/a' : chart.format(value)))}</td>`
          })
          .join('')}</tr>`,
    )
    .join('\n')
  return [
    `<figure id="${chart.id}">`,
    `<h3>${escapeHtml(chart.title)}</h3>`,
    `<p class="lead">${escapeHtml(chart.description)}</p>`,
    svg,
    '<details>',
    `<summary>The numbers of “${escapeHtml(chart.title)}”</summary>`,
    `<table><caption>${escapeHtml(chart.title)}</caption>`,
    `<thead>${header}</thead>`,
    `<tbody>${body}</tbody></table>`,
    '</details>',
    '</figure>',
  ].join('\n')
}
