/**
 * Latency as a mergeable quantile sketch: DDSketch (@datadog/sketches-js) with 1 % relative
 * accuracy, so that p50/p95/p99 of any union of rollups (a day from its hours, an org from its
 * keys) stay within 1 % of the exact quantile of the same requests. Latencies are never negative;
 * 0 ms goes to the sketch's zero bucket.
 *
 * Stored as a small JSON object of its positive store's bins (`toStored` / `fromStored`) rather
 * than the library's protobuf form: that needs protobufjs, which the package does not declare.
 */
import { DDSketch } from '@datadog/sketches-js';

export const RELATIVE_ACCURACY = 0.01;

/** The stored form: bin counts from key `o` on, the zero count, and the exact count, sum, min and max. */
export interface StoredSketch {
  readonly o: number;
  readonly b: readonly number[];
  readonly z: number;
  readonly n: number;
  readonly s: number;
  readonly min: number;
  readonly max: number;
}

export class LatencySketch {
  private constructor(private readonly sketch: DDSketch) {}

  static empty(): LatencySketch {
    return new LatencySketch(new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }));
  }

  static fromStored(stored: StoredSketch): LatencySketch {
    const out = LatencySketch.empty();
    const s = out.sketch;
    for (let i = 0; i < stored.b.length; i++) {
      const weight = stored.b[i]!;
      if (weight > 0) s.store.add(stored.o + i, weight);
    }
    s.zeroCount = stored.z;
    s.count = stored.n;
    s.sum = stored.s;
    s.min = stored.n > 0 ? stored.min : Infinity;
    s.max = stored.n > 0 ? stored.max : -Infinity;
    return out;
  }

  get count(): number {
    return this.sketch.count;
  }

  add(ms: number): void {
    this.sketch.accept(Math.max(0, ms));
  }

  merge(other: LatencySketch): void {
    if (other.count > 0) this.sketch.merge(other.sketch);
  }

  /** The value at quantile q (0..1); NaN for an empty sketch. */
  quantile(q: number): number {
    return this.count === 0 ? NaN : this.sketch.getValueAtQuantile(q);
  }

  toStored(): StoredSketch {
    const store = this.sketch.store;
    const bins: number[] = [];
    let first = NaN;
    if (store.count > 0) {
      for (let key = store.minKey; key <= store.maxKey; key++) {
        const weight = store.bins[key - store.offset] ?? 0;
        if (Number.isNaN(first)) {
          if (weight === 0) continue;
          first = key;
        }
        bins.push(weight);
      }
      while (bins.length > 0 && bins[bins.length - 1] === 0) bins.pop();
    }
    const n = this.sketch.count;
    return { o: Number.isNaN(first) ? 0 : first, b: bins, z: this.sketch.zeroCount, n, s: this.sketch.sum, min: n > 0 ? this.sketch.min : 0, max: n > 0 ? this.sketch.max : 0 };
  }
}
