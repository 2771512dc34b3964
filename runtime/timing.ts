// Summary statistics of per-iteration GPU times, shared by the device runtimes' timers.

export interface TimingSummary {
  /** Median time of one iteration, in milliseconds. */
  readonly medianMs: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Every iteration's time, in launch order. */
  readonly samplesMs: readonly number[];
}

export function summarizeTimings(samples: readonly number[]): TimingSummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    medianMs: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    meanMs: samples.reduce((s, x) => s + x, 0) / samples.length,
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
    samplesMs: [...samples],
  };
}
