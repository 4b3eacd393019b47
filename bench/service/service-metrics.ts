/**
 * `nodejs_heap_size_used_bytes` from the service's GET /metrics (prom-client's default metrics),
 * summed over its samples in case several workers report; undefined when the service exports none.
 */
export async function heapUsedBytes(serviceUrl: string): Promise<number | undefined> {
  const response = await fetch(`${serviceUrl}/metrics`);
  if (!response.ok) return undefined;
  const samples = (await response.text())
    .split('\n')
    .filter((line) => /^nodejs_heap_size_used_bytes(\{[^}]*\})?\s/.test(line))
    .map((line) => Number(line.trim().split(/\s+/).at(-1)));
  return samples.length === 0 ? undefined : samples.reduce((sum, value) => sum + value, 0);
}
