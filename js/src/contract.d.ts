// The page–kernel message contract, checked by `tsc` (npm run typecheck) against protocol.js and
// store.js. Python's side: albert_widget/protocol.py (REQUESTS), which validates the same fields.

/** Encodings of attention on the wire (albert_widget/transport.py). */
export type Encoding = "float32" | "float16" | "uint8";
export type AttentionKind = "encoder" | "decoder" | "cross";
export type Reduction = "none" | "mean" | "max";

/**
 * How a reply's buffers travel: "binary" (the message's buffers, the default) or "base64" (inside the
 * JSON as `b64`, for hosts that drop binary buffers; the page switches when a reply arrives with
 * fewer buffers than its `buffers_expected`).
 */
export type WireEncoding = "binary" | "base64";

/** Page -> kernel: every request has these fields and its type's own. */
export interface Requests {
  /** attention of some layers ([H, N, N] each, or [len(heads), N, N]) */
  layers: { revision: number; layers: number[]; kind?: AttentionKind; heads?: number[]; dtype?: Encoding; encoding?: WireEncoding };
  /** the exact float32 row of one head, or of the mean/max over heads (matrix tooltip) */
  row: { revision: number; layer: number; row: number; heads: number[]; reduce?: Reduction; kind?: AttentionKind; encoding?: WireEncoding };
  /** model view: every layer x head downsampled to size x size, uint8 */
  thumbnails: { revision: number; size: number; encoding?: WireEncoding };
  /** neuron view: q, every k, scores and softmax of one head and query token */
  neuron: { revision: number; layer: number; head: number; query: number; encoding?: WireEncoding };
  /** explain view: rollout, flow, relevancy, norm */
  explain: { revision: number; method: string; layer?: number; head?: number; reduce?: Reduction; encoding?: WireEncoding };
  /** explain view: per-head statistics of this input */
  head_stats: { revision: number; encoding?: WireEncoding };
  /** model view by statistic: float32 [statistics, L, H] (HEAD_STATISTICS), per-head means over rows start.. */
  summaries: { revision: number; start?: number; encoding?: WireEncoding };
  /** head view of a long input: each query's k heaviest keys, int32 [len(heads), N, k] + float32 weights */
  topk: { revision: number; layer: number; heads: number[]; k: number; encoding?: WireEncoding };
  /** a region of one head (or the mean/max over heads) downsampled to out_rows x out_cols cells by max or mean (albert_widget/tiles.py) */
  tile: {
    revision: number;
    layer: number;
    head?: number;
    heads?: number[];
    head_reduce?: Reduction;
    row0: number;
    row1: number;
    col0: number;
    col1: number;
    out_rows: number;
    out_cols: number;
    reduce?: "max" | "mean";
    dtype?: Encoding;
    kind?: AttentionKind;
    encoding?: WireEncoding;
  };
  /** several tiles of one series in one reply: tiles [[row0, row1, col0, col1, out_rows, out_cols], ...], one buffer each (albert_widget/tiles.py reply_to_tiles) */
  tiles: {
    revision: number;
    layer: number;
    head?: number;
    heads?: number[];
    head_reduce?: Reduction;
    tiles: number[][];
    reduce?: "max" | "mean";
    dtype?: Encoding;
    kind?: AttentionKind;
    encoding?: WireEncoding;
  };
  /** the user typed: run the model again (the reply carries the new revision) */
  set_text: { text: string; text_pair?: string | null; encoding?: WireEncoding };
}
export type RequestType = keyof Requests;

/** On the wire, page -> kernel. */
export type RequestMessage<T extends RequestType = RequestType> = Requests[T] & { id: string; type: T };
export interface CancelMessage {
  type: "cancel";
  id: string;
}

/** Kernel -> page: the reply echoes id and type; `error` (and `stale`) when the request failed. */
export interface ReplyMessage {
  id: string | null;
  type: string;
  error?: string;
  stale?: boolean;
  /** buffers sent with the reply (absent: none) */
  buffers_expected?: number;
  /** the buffers as base64 chunks (<= 1 MiB each), when the request asked for encoding "base64" */
  b64?: string[][];
  [field: string]: unknown;
}

/** Reply to `layers`. One buffer per layer, C order, little-endian. */
export interface LayersReply extends ReplyMessage {
  revision: number;
  layers: number[];
  dtype: Encoding;
  shape: number[];
  heads?: number[];
  num_heads?: number;
  kind?: AttentionKind;
  scales?: number[];
}

/** A settled request: the reply's JSON and its binary buffers. */
export interface Reply {
  content: Record<string, unknown>;
  buffers: DataView[];
}

/** Where a store gets data: the kernel (kernelSource) or the page's inlined data (inlineSource). */
export interface Source {
  request(type: RequestType, params?: Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<Reply>;
}

/** The synced traits the page reads (albert_widget/widget.py; each trait's `help` documents it). */
export interface Traits {
  text: string;
  text_pair: string | null;
  tokens: string[];
  segments: number[];
  special: boolean[];
  num_layers: number;
  num_heads: number;
  kinds: AttentionKind[];
  decoder_tokens: string[];
  decoder_special: boolean[];
  revision: number;
  info: Record<string, unknown>;
  error: string;
  notice: string;
  layer: number;
  head: number;
  heads: number[];
  head_reduce: Reduction;
  view: "head" | "matrix" | "model" | "neuron" | "explain" | "row";
  threshold: number;
  pair_filter: "all" | "aa" | "ab" | "ba" | "bb";
  word_level: boolean;
  layer_reduce: Reduction;
  hide_special: boolean;
  token_search: string;
  attention_kind: AttentionKind;
  prettify_tokens: boolean;
  display_mode: "auto" | "light" | "dark";
  explain_method: "rollout" | "flow" | "relevancy" | "norm";
  neuron_query: number;
  row_query: number;
  model_statistic: "thumbnails" | "sink" | "entropy" | "previous_token" | "self_weight" | "mean_distance";
  /** "dense": whole layers may be asked for; "compact": tiles and rows only */
  attention_form: "dense" | "compact";
}
