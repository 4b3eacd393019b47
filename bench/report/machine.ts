import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

export type MachineInfo = { cpu: string; cores: number; memoryGiB: number; node: string; loadAverage: { start: number[]; end?: number[] } };

export function describeMachine(): MachineInfo {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: { start: loadAverages() },
  };
}

/** 1, 5 and 15 minute load averages, two decimals. */
export function loadAverages(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100);
}

export function machineLine(machine: MachineInfo): string {
  const load = `${machine.loadAverage.start.join(' ')}${machine.loadAverage.end ? ` → ${machine.loadAverage.end.join(' ')}` : ''}`;
  return `${machine.cpu}, ${machine.cores} cores available, ${machine.memoryGiB} GiB, Node ${machine.node}; load average (1/5/15 min) ${load}`;
}
