// Head-view line bucketing (pure): group the lines of one [N, N] matrix into alpha buckets so that
// each bucket is stroked as one path.

export const DEFAULT_BUCKETS = 16;

/** Bucket of a weight in (0, 1]: 0..buckets-1. */
export function bucketOf(weight, buckets = DEFAULT_BUCKETS) {
  const b = Math.floor(weight * buckets);
  return Math.min(buckets - 1, Math.max(0, b));
}

/** Opacity drawn for a bucket: its centre weight. */
export function bucketAlpha(bucket, buckets = DEFAULT_BUCKETS) {
  return (bucket + 0.5) / buckets;
}

/**
 * Lines of an [n, n] matrix (rows = queries = left, columns = keys = right) with weight >= threshold
 * and > 0, grouped into alpha buckets.
 * `focus` = { side: "left" | "right", index } keeps only the lines of that query row / key column.
 * Returns { count, buckets: [{ bucket, alpha, pairs: Int32Array [i0, j0, i1, j1, ...] }] } with only
 * the non-empty buckets, in increasing alpha.
 */
export function bucketLines(matrix, n, { threshold = 0, buckets = DEFAULT_BUCKETS, focus = null, cols: m = n, cutoffs = null } = {}) {
  // m: columns of a rectangular [n, m] matrix (cross attention, pair filters); n by default.
  // cutoffs: per-row minimum weight (Float32Array(n)), the strongest lines of each row (lineselect.js).
  let rows = [0, n];
  let cols = [0, m];
  if (focus && Number.isInteger(focus.index) && focus.index >= 0) {
    if (focus.side === "left" && focus.index < n) rows = [focus.index, focus.index + 1];
    else if (focus.side === "right" && focus.index < m) cols = [focus.index, focus.index + 1];
  }
  const counts = new Int32Array(buckets);
  const tag = new Int16Array((rows[1] - rows[0]) * (cols[1] - cols[0])).fill(-1);
  let k = 0;
  for (let i = rows[0]; i < rows[1]; i++) {
    const base = i * m;
    for (let j = cols[0]; j < cols[1]; j++, k++) {
      const w = matrix[base + j];
      if (!(w > 0) || w < threshold || (cutoffs !== null && w < cutoffs[i])) continue;
      const b = bucketOf(w, buckets);
      tag[k] = b;
      counts[b]++;
    }
  }
  const pairs = Array.from(counts, (c) => new Int32Array(c * 2));
  const fill = new Int32Array(buckets);
  k = 0;
  for (let i = rows[0]; i < rows[1]; i++) {
    for (let j = cols[0]; j < cols[1]; j++, k++) {
      const b = tag[k];
      if (b < 0) continue;
      const o = fill[b];
      pairs[b][o] = i;
      pairs[b][o + 1] = j;
      fill[b] = o + 2;
    }
  }
  const out = [];
  let count = 0;
  for (let b = 0; b < buckets; b++) {
    if (counts[b] === 0) continue;
    count += counts[b];
    out.push({ bucket: b, alpha: bucketAlpha(b, buckets), pairs: pairs[b] });
  }
  return { count, buckets: out };
}
