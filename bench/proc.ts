/** What /proc tells about a process of the benchmark's (the proxy, rclone): CPU time and peak memory. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** User and system CPU seconds the process (all its threads) has used so far, apart. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces; the fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5): utime, stime; fields[0] here is field 3.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]);
}

/** Peak resident set size (VmHWM) in MiB since the process started or since the last resetPeakRss. */
export function peakRssMiB(pid: number): number {
  return statusKiB(pid, 'VmHWM') / 1024;
}

export function rssMiB(pid: number): number {
  return statusKiB(pid, 'VmRSS') / 1024;
}

/**
 * Sets VmHWM back to the current RSS (clear_refs value 5, Linux ≥ 4.0), so that the next peakRssMiB is the
 * peak of what happens in between. Returns false where the kernel or our permissions do not allow it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The benchmark's service processes, found among its own descendants by command name. */
export type ServicePids = { seaweedfs: number[]; openbao: number[] };

/** SeaweedFS (`weed`) and OpenBao (`bao`) processes started by this process or its children. */
export function servicePids(root = process.pid): ServicePids {
  const parents = new Map<number, { parent: number; name: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), { parent, name });
    } catch {
      // The process ended while we looked.
    }
  }
  const descends = (pid: number): boolean => {
    for (let at = parents.get(pid)?.parent; at !== undefined && at > 1; at = parents.get(at)?.parent)
      if (at === root) return true;
    return false;
  };
  const named = (name: string) =>
    [...parents].filter(([pid, p]) => p.name === name && descends(pid)).map(([pid]) => pid);
  return { seaweedfs: named('weed'), openbao: named('bao') };
}

/**
 * CPU seconds so far of the services, and of this process with its children that have ended (the curl
 * processes of a row; the SDK client runs in this process): what the machine spends besides the proxy.
 */
export function machineCpuSeconds(pids: ServicePids): { seaweedfs: number; openbao: number; client: number } {
  const sum = (list: number[]) =>
    list.reduce((total, pid) => {
      try {
        return total + cpuSeconds(pid);
      } catch {
        return total;
      }
    }, 0);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14–17 of stat(5).
  const client =
    (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
  return { seaweedfs: sum(pids.seaweedfs), openbao: sum(pids.openbao), client };
}
