import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'dcar-worker-';
const OWNED = /^dcar-worker-(\d+)-/;

/** A job's scratch directory, named after this process so a later start can tell whose it was. */
export function createWorkDirectory(tempDirectory: string): Promise<string> {
  return mkdtemp(join(tempDirectory, `${PREFIX}${process.pid}-`));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the scratch directories of worker processes that no longer run: a worker killed with
 * SIGKILL never cleans up after itself, and its spooled audio must not pile up in $TMPDIR.
 * Directories of live workers (several may share a host) are left alone.
 */
export async function removeOrphanedWorkDirectories(tempDirectory: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(tempDirectory)) {
    const owner = OWNED.exec(name)?.[1];
    if (owner === undefined || Number(owner) === process.pid || isRunning(Number(owner))) continue;
    await rm(join(tempDirectory, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
