import { createHash } from 'node:crypto';
import type { SourceFile } from '@dcar/archives';
import { describe, expect, it } from 'vitest';
import { planBatches } from '../src/archive-builder.js';
import { EntryNamer, safeSegment } from '../src/layout.js';

// ZIP entry naming and batch planning: pure functions, no store, database or ffmpeg.

const sha8 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);

function source(overrides: Partial<SourceFile>): SourceFile {
  return {
    id: 1,
    externalConversationId: 'conv-1',
    sessionId: 'session-1',
    messageId: '7',
    type: 'agent_tts',
    storagePath: 't/x/7_agent_tts.wav',
    sizeBytes: 10,
    recordedAt: new Date('2025-12-12T14:00:00Z'),
    ...overrides,
  };
}

describe('path segments inside the ZIP', () => {
  it('avoid Windows device names, trailing dots and more than 255 bytes', () => {
    expect(['CON', 'con.txt', 'Nul', 'aux.tar.gz', 'COM1', 'com9.x', 'LPT1', 'lpt0'].map(safeSegment)).toEqual([
      '_CON',
      '_con.txt',
      '_Nul',
      '_aux.tar.gz',
      '_COM1',
      '_com9.x',
      '_LPT1',
      '_lpt0',
    ]);
    expect(['COM¹', 'lpt³.log'].map(safeSegment)).toEqual(['_COM¹', '_lpt³.log']);
    expect(['CONSOLE', 'COM10', 'connect.txt', 'nul-1'].map(safeSegment)).toEqual(['CONSOLE', 'COM10', 'connect.txt', 'nul-1']);
    expect(['trailingdot.', 'PRN.', 'a b ', '...', '', ' '].map(safeSegment)).toEqual(['trailingdot_', 'PRN_', 'a b_', '___', '_', '_']);
    const long = 'x'.repeat(70_000);
    expect(safeSegment(long)).toBe(`${'x'.repeat(246)}~${sha8(long)}`);
    expect(Buffer.byteLength(safeSegment(long))).toBe(255);
    expect(safeSegment(`${'y'.repeat(300)}A`)).not.toBe(safeSegment(`${'y'.repeat(300)}B`));
    expect(safeSegment('x'.repeat(255))).toBe('x'.repeat(255));
  });

  it('keep an id that is a valid name as it is: any script, spaces, punctuation', () => {
    expect(['görüşme 1', '会话-1', 'Ωmega (2)', "o'brien & co; #1 [x]", 'emoji 😀', 'a.b.c'].map(safeSegment)).toEqual([
      'görüşme 1',
      '会话-1',
      'Ωmega (2)',
      "o'brien & co; #1 [x]",
      'emoji 😀',
      'a.b.c',
    ]);
    // Separators, characters Windows refuses, controls, invisible formatting (a right-to-left override) and '~' become '_'.
    expect(['café/Ω', 'a\\b', 'x:y*z?', '<a|b>"', 'tab\tnl\n', 'a\u202eb', 'a~b'].map(safeSegment)).toEqual([
      'café_Ω',
      'a_b',
      'x_y_z_',
      '_a_b__',
      'tab_nl_',
      'a_b',
      'a_b',
    ]);
    // 255 bytes of UTF-8, never cutting a character: 'é' is two bytes.
    const accents = 'é'.repeat(200);
    expect(safeSegment(accents)).toBe(`${'é'.repeat(123)}~${sha8(accents)}`);
    expect(Buffer.byteLength(safeSegment(accents))).toBe(255);
    expect(Buffer.byteLength(safeSegment(`x${'😀'.repeat(100)}`))).toBeLessThanOrEqual(255);
    expect(safeSegment(`x${'😀'.repeat(100)}`)).not.toContain('\ufffd');
  });

  it('give distinct ids distinct folders, ignoring case, and never hide metadata.json', () => {
    const namer = new EntryNamer();
    const path = (overrides: Partial<SourceFile>) => namer.name(source(overrides), 'converted').entryPath;
    expect(path({ externalConversationId: 'ABC' })).toBe('ABC/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'abc' })).toBe('abc~2/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'Abc', messageId: '8' })).toBe('Abc~3/session-1/message_8_agent_tts.opus');
    // The same id keeps its folder.
    expect(path({ externalConversationId: 'abc', messageId: '9' })).toBe('abc~2/session-1/message_9_agent_tts.opus');
    expect(path({ externalConversationId: 'metadata.json' })).toBe('metadata.json~2/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'METADATA.JSON' })).toBe('METADATA.JSON~3/session-1/message_7_agent_tts.opus');
    // Two ids that only differ in a character made safe.
    expect(path({ externalConversationId: 'a:b' })).toBe('a_b/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'a_b' })).toBe('a_b~2/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'a b' })).toBe('a b/session-1/message_7_agent_tts.opus');
    // The same word composed (NFC) and decomposed (NFD): macOS would merge the two folders.
    expect(path({ externalConversationId: 'caf\u00e9' })).toBe('caf\u00e9/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'cafe\u0301' })).toBe('cafe\u0301~2/session-1/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'CAF\u00c9' })).toBe('CAF\u00c9~3/session-1/message_7_agent_tts.opus');
    // Sessions are unique within their conversation's folder.
    expect(path({ externalConversationId: 'conv', sessionId: 'S' })).toBe('conv/S/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'conv', sessionId: 's' })).toBe('conv/s~2/message_7_agent_tts.opus');
    expect(path({ externalConversationId: 'other', sessionId: 's' })).toBe('other/s/message_7_agent_tts.opus');
  });

  it('keep file names within 255 bytes, with their extension, distinct per row', () => {
    const namer = new EntryNamer();
    const type = `agent_${'t'.repeat(400)}`;
    const first = namer.name(source({ type }), 'converted');
    const second = namer.name(source({ type }), 'converted');
    const stem = `message_7_${type}`;
    expect(first.fileName).toBe(`${stem.slice(0, 255 - 5 - 9)}~${sha8(stem)}.opus`);
    expect(second.fileName).toBe(`${stem.slice(0, 255 - 5 - 9)}~${sha8(`${stem}-2`)}.opus`);
    expect([first.fileName, second.fileName].map((name) => Buffer.byteLength(name))).toEqual([255, 255]);
    expect(namer.name(source({ messageId: '8', type: 'a b' }), 'converted').fileName).toBe('message_8_a b.opus');
    expect(namer.name(source({ messageId: '9', type: '../x/y' }), 'converted').fileName).toBe('message_9_.._x_y.opus');
  });
});

describe('layout', () => {
  const source = (overrides: Partial<SourceFile>): SourceFile => ({
    id: 1,
    externalConversationId: 'conv-1',
    sessionId: 'session-1',
    messageId: '7',
    type: 'agent_tts',
    storagePath: 't/x/7_agent_tts.WAV',
    sizeBytes: 10,
    recordedAt: new Date('2025-12-12T14:00:00Z'),
    ...overrides,
  });

  it('names entries by the contract, keeps the original extension for unconvertible files and never reuses a path', () => {
    const namer = new EntryNamer();
    expect(namer.name(source({}), 'converted')).toMatchObject({ fileName: 'message_7_agent_tts.opus', entryPath: 'conv-1/session-1/message_7_agent_tts.opus' });
    expect(namer.name(source({}), 'converted')).toMatchObject({ fileName: 'message_7_agent_tts-2.opus' });
    expect(namer.name(source({ messageId: '8' }), 'unconvertible')).toMatchObject({ fileName: 'message_8_agent_tts.wav' });
    expect(namer.name(source({ messageId: '9' }), 'missing')).toMatchObject({ fileName: 'message_9_agent_tts.opus', entryPath: null });
  });

  it('keeps ids from escaping their folder when the ZIP is extracted', () => {
    expect(safeSegment('../../etc')).toBe('.._.._etc');
    expect(safeSegment('..')).toBe('__');
    expect(safeSegment('a/b\\c d')).toBe('a_b_c d');
    expect(safeSegment('conv-123')).toBe('conv-123');
    const namer = new EntryNamer();
    expect(namer.name(source({ externalConversationId: '..', sessionId: '/abs' }), 'converted').entryPath).toBe('__/_abs/message_7_agent_tts.opus');
  });

  it('plans consecutive batches that shrink towards the end and keep big files alone', () => {
    const files = Array.from({ length: 40 }, () => ({ sizeBytes: 1000 }));
    const batches = planBatches(files, { maxFiles: 16, maxBytes: 1_000_000 }, 2);
    expect(batches.flat()).toEqual(files.map((_, index) => index));
    expect(batches.map((batch) => batch.length)).toEqual([5, 5, 4, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(planBatches([{ sizeBytes: 10 }, { sizeBytes: 900 }, { sizeBytes: 10 }], { maxFiles: 16, maxBytes: 500 }, 1)).toEqual([[0], [1], [2]]);
  });
});
