import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkDirectory, removeOrphanedWorkDirectories } from '../src/work-directories.js';

const root = await mkdtemp(join(tmpdir(), 'dcar-workdirs-test-'));
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('work directories', () => {
  it('removes only the directories of worker processes that no longer run', async () => {
    // A process that has certainly exited: its pid is free (or reused by something unrelated later).
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const dead = join(root, `dcar-worker-${deadPid}-abc123`);
    await mkdir(dead);
    await writeFile(join(dead, 'spooled.opus'), Buffer.alloc(1024));
    const mine = await createWorkDirectory(root);
    const parentsDir = join(root, `dcar-worker-${process.ppid}-def456`);
    await mkdir(parentsDir);
    await mkdir(join(root, 'unrelated-dir'));

    expect(mine.startsWith(join(root, `dcar-worker-${process.pid}-`))).toBe(true);
    expect(await removeOrphanedWorkDirectories(root)).toEqual([`dcar-worker-${deadPid}-abc123`]);
    expect((await readdir(root)).sort()).toEqual([mine.slice(root.length + 1), `dcar-worker-${process.ppid}-def456`, 'unrelated-dir'].sort());
  });
});
