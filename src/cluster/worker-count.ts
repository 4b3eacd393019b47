import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

type Read = (file: string) => string;
const read: Read = (file) => readFileSync(file, 'utf8');

/**
 * The CPUs this process may use: os.availableParallelism() (the CPU affinity mask), capped by a
 * cgroup CPU quota where one is set (containers: Kubernetes limits.cpu), which Node does not read.
 * cgroup v2 `cpu.max` ("max 100000" or "150000 100000"), else v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`.
 */
export function availableCpus(readText: Read = read, parallelism = availableParallelism()): number {
  let quota: number | undefined;
  try {
    const [max, period] = readText('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    if (max !== 'max') quota = Number(max) / Number(period);
  } catch {
    try {
      const max = Number(readText('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim());
      const period = Number(readText('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim());
      if (max > 0 && period > 0) quota = max / period;
    } catch {
      // No cgroup CPU controller visible: the affinity mask is all there is.
    }
  }
  // A fractional quota (1.5 CPUs) still runs one worker per whole CPU, and never fewer than one.
  return quota !== undefined && Number.isFinite(quota) ? Math.max(1, Math.min(parallelism, Math.floor(quota))) : parallelism;
}
