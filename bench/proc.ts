/**
 * CPU time and peak RSS of processes the bench did not write (nginx), read from Linux's /proc:
 * a process and its direct children (nginx's master and its workers). Elsewhere the figures are
 * unavailable (NaN) rather than wrong.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** The fields after the command name of /proc/<pid>/stat (the name may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and the processes whose parent it is. */
export function processTree(pid: number): number[] {
  const pids = [pid];
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      // fields[1] is the parent pid (field 4 of stat).
      if (Number(statFields(Number(entry))?.[1]) === pid) pids.push(Number(entry));
    }
  } catch {
    // no /proc: only the process itself
  }
  return pids;
}

/** user + system CPU of the processes, in ms (10 ms resolution with the usual 100 ticks/s). */
export function cpuMsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (!fields) return NaN;
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  }
  return (ticks / clockTicks()) * 1000;
}

/** Sum of the processes' peak resident set sizes (VmHWM), in KiB. */
export function peakRssKiBOf(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!match) return NaN;
      kib += Number(match[1]);
    } catch {
      return NaN;
    }
  }
  return kib;
}
