// Tiny DOM helpers. Text always goes through textContent, never through HTML parsing.

/**
 * Create an element: h(doc, "div", { cls: "a b", text: "...", attrs: { role: "alert" }, dataset: {...} }, children)
 */
export function h(doc, tag, { cls, text, attrs, dataset, style } = {}, children = []) {
  const el = doc.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined && text !== null) el.textContent = String(text);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  if (dataset) for (const [k, v] of Object.entries(dataset)) el.dataset[k] = String(v);
  if (style) for (const [k, v] of Object.entries(style)) el.style.setProperty(k, String(v));
  for (const child of children) if (child) el.appendChild(child);
  return el;
}

/** Remove every child of an element. */
export function clearChildren(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Shallow equality of two arrays (or array-likes). */
export function sameArray(a, b) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** DOM listeners added through `on` and all removed by `clear` (a view's destroy). */
export function listenerSet() {
  const added = [];
  return {
    on(target, type, fn, options) {
      target.addEventListener(type, fn, options);
      added.push([target, type, fn, options]);
    },
    clear() {
      for (const [target, type, fn, options] of added.splice(0)) target.removeEventListener(type, fn, options);
    },
  };
}
