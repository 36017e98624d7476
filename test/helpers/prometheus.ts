// Scraping a Prometheus endpoint in tests: the text format parsed by an independent parser
// (parse-prometheus-text-format), and sums of samples selected by labels.
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  /** Families by name, with their type and help. */
  families: Map<string, PrometheusFamily>;
  /**
   * The same text parsed with histograms' TYPE lines left out, so that `<name>_count{...}` series keep their
   * labels (the parser folds a labelled histogram into one sample and drops its labels and count).
   */
  series: Map<string, PrometheusFamily>;
}

export function parseScrape(text: string): Scrape {
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const untyped = text.split('\n').filter((l) => !/^# TYPE \S+ histogram$/.test(l)).join('\n');
  // Untyped, each run of lines of one name is a family of its own: a histogram's series interleave.
  const series = new Map<string, PrometheusFamily>();
  for (const f of parsePrometheusTextFormat(untyped)) {
    const seen = series.get(f.name);
    if (seen) seen.metrics.push(...f.metrics);
    else series.set(f.name, f);
  }
  return { families, series };
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return parseScrape(await res.text());
}

/** The sum of a family's samples whose labels include `labels` (histograms: their counts); 0 when none. */
export function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const histogram = s.families.get(name)?.type === 'HISTOGRAM';
  const family = s.series.get(histogram ? `${name}_count` : name);
  if (!family) return 0;
  let sum = 0;
  for (const m of family.metrics) {
    if (Object.entries(labels).every(([k, v]) => (m.labels?.[k] ?? '') === v)) sum += Number(m.value);
  }
  return sum;
}
