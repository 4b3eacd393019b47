import { readdirSync, readFileSync } from 'node:fs';

/** `pid` and all its descendants, from /proc/<pid>/task/<tid>/children (Linux ≥ 3.5). */
export function processTree(pid: number): number[] {
  const tree: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const current = pending.pop()!;
    tree.push(current);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children !== '') pending.push(...children.split(/\s+/).map(Number));
      } catch { /* the thread ended meanwhile */ }
    }
  }
  return tree;
}

function rssBytesOf(pid: number): number {
  try {
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0; // exited meanwhile
  }
}

/** Resident memory of a process and its descendants (cluster workers), in bytes. */
export function treeRssBytes(pid: number): number {
  return processTree(pid).reduce((sum, member) => sum + rssBytesOf(member), 0);
}

export type PeakRssSampler = { stop(): number };

/** Samples the tree's RSS every `intervalMs` until stopped; stop() answers the peak in bytes. */
export function samplePeakRss(pid: number, intervalMs = 200): PeakRssSampler {
  let peak = treeRssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssBytes(pid));
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRssBytes(pid));
    },
  };
}
