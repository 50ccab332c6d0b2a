/** Median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Spread as (max - min) / median, a rough noise figure for a small sample. */
export function spread(values: readonly number[]): number {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/** Machine facts written into every result file. */
export async function machine(): Promise<Record<string, unknown>> {
  const os = await import('node:os');
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** Writes a result JSON under bench/results/ and returns its path. */
export async function writeResult(name: string, result: unknown): Promise<string> {
  const { writeFile, mkdir } = await import('node:fs/promises');
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
  await writeFile(file, JSON.stringify(result, null, 2));
  return file.pathname;
}

/** Median, spread and the samples themselves, as every result file reports a measurement. */
export interface Summary {
  median: number;
  /** (max - min) / median. */
  spread: number;
  samples: number[];
}

/** Summarises repeated measurements of one quantity. */
export function summarize(values: readonly number[]): Summary {
  return { median: median(values), spread: spread(values), samples: [...values] };
}

/** The machine's load average now (1, 5 and 15 minutes). */
export async function loadAverage(): Promise<[number, number, number]> {
  const os = await import('node:os');
  const [one = 0, five = 0, fifteen = 0] = os.loadavg();
  return [one, five, fifteen];
}

/** A plain-text table with aligned columns (also valid Markdown). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A number for a table: thousands separators, `digits` decimals, `–` when not finite. */
export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
}
