/**
 * Keeps a label's values bounded: the first `limit` distinct values seen get series of their own,
 * every later one is counted as `other`. The set is sticky, so a counter never moves between
 * series (Prometheus counters must only grow); in a fleet of clients that all issue, the busiest
 * ones are among the first to be seen. `limit` 0 puts everything under `other`.
 */
export function boundedLabel(limit: number): (value: string | undefined) => string {
  const kept = new Set<string>();
  return (value) => {
    if (value === undefined || value === '') return 'none';
    if (kept.has(value)) return value;
    if (kept.size < limit) {
      kept.add(value);
      return value;
    }
    return 'other';
  };
}
