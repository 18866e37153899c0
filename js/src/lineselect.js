// Which lines the head view draws when there are too many (pure).
//
// What a canvas line costs is the pixels it crosses: Chromium rasterises a 2D canvas when the frame
// is produced, on the main thread, ~6-10 ns per pixel for 1 px lines in software (measured here:
// 2,048 lines on a 10,240 px tall canvas ~65-95 ms; 16,384 on a 2,560 px one ~90 ms; lines 1.25 px
// wide cost 8x more). A line from query row i to key row j crosses about |i - j| * rowPx + 176 px, a
// third of the canvas height on average. So the view keeps what fits LINE_PIXELS (~30-40 ms) and at
// most MAX_LINES lines: when more pass the threshold, every query token (row) keeps only its k
// strongest lines, k = max(1, floor(lines / (rows x series))), and the view says so. A hovered or
// clicked token still shows all of its lines (one row or column: never too many).

export const MAX_LINES = 20000;
export const LINE_PIXELS = 4e6;

/** Lines the head view may draw on a canvas of `height` CSS px (LINE_PIXELS / mean line length). */
export function lineBudget(height) {
  if (!(height > 0)) return MAX_LINES;
  return Math.max(512, Math.min(MAX_LINES, Math.floor(LINE_PIXELS / (height / 3 + 176))));
}

/** Lines of an [n, m] matrix with weight > 0 and >= threshold. */
export function countLines(matrix, n, m, threshold = 0) {
  let count = 0;
  const size = n * m;
  for (let i = 0; i < size; i++) {
    const w = matrix[i];
    if (w > 0 && w >= threshold) count++;
  }
  return count;
}

/** The k-th largest value of values[0..len) (k >= 1), rearranging `values` (quickselect). */
export function kthLargest(values, len, k) {
  let lo = 0;
  let hi = len - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target];
  }
  return values[target];
}

/**
 * Per-row cutoffs keeping the k strongest lines of each row of an [n, m] matrix (ties at the cutoff
 * are kept too): Float32Array(n), cutoff[i] >= threshold.
 */
export function rowCutoffs(matrix, n, m, k, threshold = 0) {
  const out = new Float32Array(n);
  const scratch = new Float32Array(m);
  for (let i = 0; i < n; i++) {
    let len = 0;
    const base = i * m;
    for (let j = 0; j < m; j++) {
      const w = matrix[base + j];
      if (w > 0 && w >= threshold) scratch[len++] = w;
    }
    out[i] = len <= k ? threshold : Math.max(threshold, kthLargest(scratch, len, k));
  }
  return out;
}

/**
 * The drawing plan of the head view: { capped, perRow, total, cutoffs: [Float32Array | null] } for
 * the matrices of its series, on rows of `rowPx` CSS px. `focus` (a hovered / locked token) never caps.
 */
export function linePlan(matrices, n, m, { threshold = 0, focus = null, rowPx = 0, maxLines = lineBudget(Math.max(n, m) * rowPx) } = {}) {
  const none = { capped: false, perRow: 0, total: -1, cutoffs: matrices.map(() => null) };
  if (focus || n === 0) return none; // one row or column: never too many
  const totals = matrices.map((matrix) => countLines(matrix, n, m, threshold));
  const total = totals.reduce((a, b) => a + b, 0);
  if (total <= maxLines) return { ...none, total };
  const perRow = Math.max(1, Math.floor(maxLines / (n * Math.max(1, matrices.length))));
  const cutoffs = matrices.map((matrix, s) => (totals[s] > perRow * n ? rowCutoffs(matrix, n, m, perRow, threshold) : null));
  return { capped: true, perRow, total, cutoffs };
}

/** The note the head view shows when it capped its lines ("" otherwise). */
export function capNote(plan, drawn) {
  if (!plan.capped) return "";
  const fmt = (x) => x.toLocaleString("en-US");
  return `Showing the ${plan.perRow} strongest line${plan.perRow === 1 ? "" : "s"} of each token (${fmt(drawn)} of ${fmt(plan.total)} above the threshold): raise the threshold, or hover a token to see all of its lines.`;
}
