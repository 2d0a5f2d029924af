import { describe, expect, it } from 'vitest';
import { isSafeStoragePath, unsafeStoragePathReason } from '../src/index.js';

describe('the source storage path rule', () => {
  it.each([
    'tenant-a/project/conversations/conv-1/session-1/10_agent_tts.wav',
    'a',
    'a/b/c.d',
    'a/.hidden/b.wav',
    'a/..b/c.wav',
    'a/b../c.wav',
    'a/.../c.wav',
    'a//b.wav',
    'a/b/',
    'tenant/üñíçødé/€.mp3',
    'tenant/%2e%2e/x.wav',
    // S3's limit is 1,024 bytes of UTF-8: exactly that is a key.
    `t/${'a'.repeat(1018)}.wav`,
    `t/${'ü'.repeat(509)}.wav`,
  ])('reads %j', (path) => {
    expect(unsafeStoragePathReason(path)).toBeNull();
    expect(isSafeStoragePath(path)).toBe(true);
  });

  it.each([
    ['', 'empty key'],
    ['../arc-bucket/tenant-other/daily-conversation-audio-recordings/2025/12/12/01.zip', '".." segment'],
    ['tenant/../other/x.wav', '".." segment'],
    ['tenant/..', '".." segment'],
    ['..', '".." segment'],
    ['./tenant/x.wav', '"." segment'],
    ['tenant/./x.wav', '"." segment'],
    ['tenant/.', '"." segment'],
    ['/tenant/x.wav', 'leading "/"'],
    ['tenant\\..\\other\\x.wav', 'backslash'],
    ['tenant\\x.wav', 'backslash'],
    ['tenant/x\u0000.wav', 'control character'],
    ['tenant/x\n.wav', 'control character'],
    ['tenant/x\t.wav', 'control character'],
    ['tenant/x\u007f.wav', 'control character'],
    ['tenant/x\u0085.wav', 'control character'],
    [`t/${'a'.repeat(1019)}.wav`, 'longer than 1,024 bytes'],
    [`t/${'ü'.repeat(510)}.wav`, 'longer than 1,024 bytes'],
  ])('never reads %j (%s)', (path, reason) => {
    expect(unsafeStoragePathReason(path)).toBe(reason);
    expect(isSafeStoragePath(path)).toBe(false);
  });
});
