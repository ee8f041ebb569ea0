import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, chunkStarts } from './MessageList';

describe('message chunks', () => {
  it('keep their first index as messages are added at the end', () => {
    expect(chunkStarts(0)).toEqual([]);
    expect(chunkStarts(1)).toEqual([0]);
    expect(chunkStarts(CHUNK_SIZE)).toEqual([0]);
    expect(chunkStarts(CHUNK_SIZE + 1)).toEqual([0, CHUNK_SIZE]);
    expect(chunkStarts(1000)).toHaveLength(Math.ceil(1000 / CHUNK_SIZE));
  });
});
