import { describe, expect, it } from 'vitest';
import type { LevelView } from './bench-api';
import { parseJsonLines, parseLevels, percentilePoints, pointsOf } from './bench';

const level = (load: number, ttft: number, partial = false) =>
  ({
    index: load,
    load,
    partial,
    stats: { request_throughput: load * 2, ttft_ms: { median: ttft, p90: ttft + 1, p99: ttft + 2 } },
  }) as unknown as LevelView;

describe('bench figures', () => {
  it('plots each finished level against its load, in order', () => {
    const levels = [level(16, 30), level(1, 10), level(4, 20), level(64, 99, true)];
    expect(pointsOf(levels, (s) => s.request_throughput)).toEqual([
      { x: 1, y: 2 },
      { x: 4, y: 8 },
      { x: 16, y: 32 },
    ]);
    expect(percentilePoints(levels, 'ttft_ms', 'p99').map((p) => p.y)).toEqual([12, 22, 32]);
  });

  it('reads levels and uploaded prompts, refusing what is not', () => {
    expect(parseLevels('1, 4,16')).toEqual([1, 4, 16]);
    expect(parseLevels('1, x')).toBeNull();
    expect(parseLevels('0')).toBeNull();
    expect(parseJsonLines('{"prompt": "a"}\n\n"b"\n{"text": "c"}\n')).toEqual(['a', 'b', 'c']);
    expect(() => parseJsonLines('{"nope": 1}')).toThrow('line 1 has no "prompt" text');
  });
});
