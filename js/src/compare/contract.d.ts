// CompareWidget's page–kernel contract (the same id / one reply / cancel rules as ../contract.d.ts).
// Python's side: albert_widget/compare/contract.py (COMPARE_REQUESTS); tests/test_names.py checks
// that both name the same types and fields.

export type Side = "left" | "right";

/** Page -> kernel. */
export interface CompareRequests {
  /** one head of one side on its own tokens: float32 [N, N] */
  side: { revision: number; side: Side; layer: number; head: number };
  /** Δ = right − left, left and right over the compared slots: three float32 [S, S] (NaN: one side only) */
  difference: { revision: number; left_layer: number; left_head: number; right_layer: number; right_head: number };
  /** head divergence float32 [La, Ha, Lb, Hb], closest heads int32 [La, Ha, 2] and [Lb, Hb, 2] */
  matching: { revision: number };
}
export type CompareRequestType = keyof CompareRequests;
