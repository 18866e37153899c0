// @ts-check
// The names the page, the widget, the figures and the HTML export agree on, written once for the
// page. The twin of albert_widget/names.py (tests/test_names.py checks they are equal).

/** Every view of the widget. */
export const VIEWS = ["head", "matrix", "model", "neuron", "explain", "row"];
/** Mean or max over heads (head_reduce) or over layers (layer_reduce), or neither. */
export const REDUCTIONS = ["none", "mean", "max"];
/** Query rows of one sentence -> key columns of the other. */
export const PAIR_FILTERS = ["all", "aa", "ab", "ba", "bb"];
/** Encoder self-attention (also decoder-only models), decoder self- and cross-attention. */
export const ATTENTION_KINDS = ["encoder", "decoder", "cross"];
/** "auto" follows JupyterLab's theme. */
export const DISPLAY_MODES = ["auto", "light", "dark"];
/** Methods of the explain view. */
export const EXPLAIN_METHODS = ["rollout", "flow", "relevancy", "norm"];
/** How attention travels to the page. */
export const ENCODINGS = ["float32", "float16", "uint8"];
/** Per-head statistics of the model view (albert_widget/head_summaries.py defines them). */
export const HEAD_STATISTICS = ["sink", "entropy", "previous_token", "self_weight", "mean_distance"];
/** What colours the model view: thumbnails, or one statistic per head. */
export const MODEL_COLOURINGS = ["thumbnails", "sink", "entropy", "previous_token", "self_weight", "mean_distance"];
/** How the widget holds a capture: whole [L, H, N, N] arrays, or q/k/log-sum-exp (tiles on demand). */
export const ATTENTION_FORMS = ["dense", "compact"];
/** Views that draw a compact capture (tiles or summaries, never whole [H, N, N] layers). */
export const COMPACT_VIEWS = ["head", "matrix", "model", "row"];
/** The matrix view's colour scale ("auto": log for a compact capture, linear for a dense one; dense is always linear). */
export const COLOUR_SCALES = ["auto", "linear", "log"];
