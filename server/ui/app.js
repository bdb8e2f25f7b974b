/* blockd console. Plain JavaScript, no framework, no build step: the
 * daemon serves this file from its binary under a Content-Security-Policy
 * of default-src 'self', so everything the page does is here (no inline
 * script). Text from the API (model, block and parameter names) only ever
 * reaches the page through textContent, never innerHTML. */
"use strict";

(function () {
  const TOKEN_KEY = "blockd.token";
  const state = {
    model: null,       // selected model name
    info: null,        // GET /v1/models/{m}
    params: null,      // GET /v1/models/{m}/parameters
    tensor: null,      // selected parameter/buffer name
    autoTimer: null,
    lastScrape: null,  // {t, samples} of the previous /metrics read
    expanded: new Set(["<root>"]),
  };

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids) if (c !== null && c !== undefined)
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const enc = encodeURIComponent;

  /* ---- API access: the token, errors ------------------------------- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  // Every request carries the token when one is set; a daemon run without
  // tokens ignores the header.
  async function api(path, opts) {
    opts = Object.assign({}, opts || {});
    const headers = Object.assign({}, opts.headers || {});
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    opts.headers = headers;
    opts.cache = "no-store";
    const res = await fetch(path, opts);
    if (res.status === 401) needToken(t ? "The token was refused (401)." :
                                          "This daemon needs an API token (401).");
    const text = await res.text();
    if (!res.ok) {
      let code = "http_" + res.status, msg = text.slice(0, 300) || res.statusText;
      try {
        const j = JSON.parse(text);
        if (j && j.error) { code = j.error.code || code; msg = j.error.message || msg; }
      } catch (e) { /* not JSON: keep the text */ }
      if (res.status === 403) msg = "forbidden (403): the token may not do this: " + msg;
      throw new ApiError(res.status, code, msg);
    }
    if (opts.raw) return text;
    return text ? JSON.parse(text) : null;
  }

  function needToken(msg) {
    const f = $("token-form");
    f.classList.add("needed");
    showError(msg + " Enter it above; it is kept in this tab's sessionStorage only.");
    $("token").focus();
  }

  function showError(msg) {
    const b = $("banner");
    b.textContent = msg;
    b.hidden = false;
  }
  function clearError() { $("banner").hidden = true; }

  function report(e) {
    if (e instanceof ApiError && e.status === 401) return; // prompt shown
    showError(e instanceof ApiError ? e.code + ": " + e.message : String(e));
  }

  /* ---- formatting ---------------------------------------------------- */

  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0, v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(v)) + " " + u[i];
  }
  const fmtInt = (n) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US");
  const fmtShape = (s) => "[" + s.join(", ") + "]";
  // Six significant digits: what the stats panel prints (the browser test
  // compares at this precision).
  function fmtNum(x) {
    if (typeof x !== "number") return String(x);
    if (!isFinite(x)) return String(x);
    if (x === 0) return "0";
    return Number(x.toPrecision(6)).toString();
  }
  const numel = (shape) => shape.reduce((a, b) => a * b, 1);

  /* ---- models list ----------------------------------------------------- */

  let modelsCache = [];

  async function loadModels() {
    const j = await api("/v1/models");
    modelsCache = j.models || [];
    const tb = $("models").tBodies[0];
    tb.replaceChildren();
    for (const m of modelsCache) {
      const btn = el("button", {
        type: "button", class: "link", "data-model": m.name, text: m.name,
        onclick: () => selectModel(m.name),
      });
      tb.append(el("tr", { class: m.name === state.model ? "selected" : null },
        el("td", {}, btn),
        el("td", { text: m.device }),
        el("td", { text: m.mode }),
        el("td", { class: "num", text: fmtInt(m.parameter_count) }),
        el("td", { class: "num", title: fmtInt(m.bytes) + " bytes", text: fmtBytes(m.bytes) })));
    }
    $("models-empty").hidden = modelsCache.length > 0;
    if (state.model && !modelsCache.some((m) => m.name === state.model)) {
      state.model = null;
      clearModel();
    }
    if (!state.model && modelsCache.length === 1) await selectModel(modelsCache[0].name);
    return modelsCache;
  }

  function clearModel() {
    $("model-title").textContent = "No model selected";
    $("model-info").textContent = "";
    $("tree").replaceChildren();
    clearTensor();
  }

  async function selectModel(name) {
    if (state.model !== name) {
      state.model = name;
      state.tensor = null;
      state.expanded = new Set(["<root>"]);
      clearTensor();
      for (const tr of $("models").tBodies[0].rows)
        tr.classList.toggle("selected", tr.querySelector("[data-model]").dataset.model === name);
      $("fwd-out").textContent = "";
      $("fwd-out-shape").textContent = "–";
      $("fwd-input").value = "";
      state.fwdShapeSet = false;
    }
    await loadModel();
  }

  async function loadModel() {
    const name = state.model;
    if (!name) return;
    const [info, params] = await Promise.all([
      api("/v1/models/" + enc(name)),
      api("/v1/models/" + enc(name) + "/parameters"),
    ]);
    if (state.model !== name) return;
    state.info = info;
    state.params = params;
    $("model-title").textContent = "Model " + name;
    const dev = info.device_bytes ? Object.entries(info.device_bytes)
      .map(([d, b]) => d + " " + fmtBytes(b)).join(", ") : info.device;
    $("model-info").textContent = info.device + " · " + info.mode + " · " +
      fmtInt(info.parameter_count) + " parameters · " + fmtBytes(info.bytes) +
      " (" + dev + ") · seed " + info.seed;
    renderTree();
    if (!state.fwdShapeSet) {
      const inF = firstInFeatures(info.block);
      if (inF) $("fwd-in-shape").value = "1," + inF;
      state.fwdShapeSet = true;
    }
    if (state.tensor) await loadTensor();
  }

  /* ---- the block tree ------------------------------------------------ */

  // Children of a spec node: any field holding a block (an object with
  // "type" or "ref") or a list of blocks; a child is named by its "name"
  // (sequential layers carry one), else by its field ("body") or position.
  // Generic so that plugin block types with child fields show up too.
  function specChildren(node) {
    const out = [];
    const isBlock = (v) => v && typeof v === "object" && !Array.isArray(v) &&
      (typeof v.type === "string" || v.ref !== undefined);
    for (const [k, v] of Object.entries(node)) {
      if (isBlock(v)) out.push({ name: v.name !== undefined ? String(v.name) : k, spec: v });
      else if (Array.isArray(v) && v.length && v.every(isBlock))
        v.forEach((c, i) => out.push({ name: c.name !== undefined ? String(c.name) : String(i), spec: c }));
    }
    return out;
  }

  function firstInFeatures(node) {
    if (!node) return null;
    if (typeof node.in_features === "number") return node.in_features;
    for (const c of specChildren(node)) {
      const r = firstInFeatures(c.spec);
      if (r) return r;
    }
    return null;
  }

  // name -> {entry, buffer} for every parameter and buffer, under each of
  // its names (aliases of tied parameters included).
  function tensorIndex() {
    const idx = new Map();
    const add = (list, buffer) => {
      for (const p of list || []) {
        idx.set(p.name, { p, buffer, alias: false });
        for (const a of p.aliases || []) idx.set(a, { p, buffer, alias: true });
      }
    };
    add(state.params.parameters, false);
    add(state.params.buffers, true);
    return idx;
  }

  function renderTree() {
    const idx = tensorIndex();
    const ids = new Map(); // spec id -> {path, spec} of its first use
    (function collect(node, path) {
      if (node.id !== undefined && !ids.has(node.id)) ids.set(node.id, { path, spec: node });
      for (const c of specChildren(node)) collect(c.spec, path ? path + "." + c.name : c.name);
    })(state.info.block, "");

    const tree = $("tree");
    const focused = document.activeElement && tree.contains(document.activeElement)
      ? document.activeElement.dataset.key : null;
    const keys = new Set();
    tree.replaceChildren(blockItem(state.info.block, "", "<root>", { idx, ids, keys }, 1));
    const again = focused && tree.querySelector('[data-key="' + CSS.escape(focused) + '"]');
    if (again) again.focus();
    else {
      const first = tree.querySelector('[role="treeitem"]');
      if (first) first.tabIndex = 0;
    }
  }

  // Parameters (unique tensors) under a path prefix, with their element
  // counts: a tied tensor counts once per subtree.
  function subtreeCount(path, idx) {
    const seen = new Set();
    let n = 0;
    const pre = path ? path + "." : "";
    for (const [name, t] of idx) {
      if (t.buffer || !name.startsWith(pre) || seen.has(t.p.name)) continue;
      seen.add(t.p.name);
      n += numel(t.p.shape);
    }
    return n;
  }

  // ctx: idx (tensorIndex), ids (spec id -> {path, spec}), keys
  // (the data-keys given so far: a block run again under the same name,
  // `{"ref": id, "name": <its first name>}`, has its path twice).
  function blockItem(spec, path, key, ctx, level) {
    const { idx, ids } = ctx;
    for (let n = 2; ctx.keys.has(key); n++) key = key.replace(/~\d+$/, "") + "~" + n;
    ctx.keys.add(key);
    const def = spec.ref !== undefined ? ids.get(spec.ref) : undefined;
    const to = def ? def.path : undefined;
    // a ref under its first path is the same block run again: its tensors
    // are listed (and counted) where it was defined
    const rerun = spec.ref !== undefined && to === path;
    const li = el("li", { role: "treeitem", tabindex: "-1", "data-key": key,
                          "data-path": path, "aria-level": level });
    const node = el("div", { class: "node" }, el("span", { class: "twisty", "aria-hidden": "true" }));
    const label = path === "" ? "(root)" : path.split(".").pop();
    node.append(el("span", { class: "bname", text: label }));
    // a ref under a new path shows the shared block's subtree again, its
    // tensors under the new path's names (the aliases)
    const target = def && !rerun ? def.spec : spec;
    if (spec.ref !== undefined) {
      node.append(el("span", { class: "btype", text: "ref" }));
      const link = el("a", { class: "tie", href: "#", "data-ref": spec.ref,
                             text: (rerun ? "→ runs " : "→ tied to ") + spec.ref +
                             (to !== undefined ? " (" + (to || "(root)") + ")" : "") });
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        ev.stopPropagation();
        if (to !== undefined) revealPath(to);
      });
      node.append(link);
    } else {
      node.append(el("span", { class: "btype", text: spec.type }));
      if (spec.id !== undefined) node.append(el("span", { class: "tie", text: "id " + spec.id }));
      const desc = describeBlock(spec);
      if (desc) node.append(el("span", { class: "shape", text: desc }));
    }
    const count = rerun ? 0 : subtreeCount(path, idx);
    if (count) node.append(el("span", { class: "count", text: fmtInt(count) + " params" +
                                        (spec.ref !== undefined ? " (shared)" : "") }));
    li.append(node);

    // direct tensors of this block, then its child blocks
    const group = el("ul", { role: "group" });
    const pre = path ? path + "." : "";
    const direct = [];
    for (const [name, t] of idx) {
      if (rerun || !name.startsWith(pre)) continue;
      const rest = name.slice(pre.length);
      if (rest.includes(".")) continue;
      direct.push([name, t]);
    }
    for (const [name, t] of direct) group.append(tensorItem(name, t, level + 1));
    // (the depth bound only guards against a malformed spec: blockd's own
    // nesting limit, --max-depth, is 64)
    const kids = rerun || (spec.ref !== undefined && !def) || level > 200 ? [] : specChildren(target);
    for (const c of kids) {
      const cp = pre + c.name;
      group.append(blockItem(c.spec, cp, "b:" + cp, ctx, level + 1));
    }
    if (group.children.length) {
      li.append(group);
      li.setAttribute("aria-expanded", state.expanded.has(key) ? "true" : "false");
    }
    li.addEventListener("click", (ev) => {
      if (ev.target.closest('[role="treeitem"]') !== li) return;
      ev.stopPropagation();
      li.focus();
      toggle(li);
    });
    return li;
  }

  function describeBlock(s) {
    if (typeof s.in_features === "number")
      return s.in_features + " → " + s.out_features + (s.bias === false ? ", no bias" : "");
    const keep = [];
    for (const [k, v] of Object.entries(s)) {
      if (["type", "name", "id", "layers", "body", "branches"].includes(k)) continue;
      if (v && typeof v === "object") {
        if (v.type || v.ref !== undefined) continue;
        keep.push(k + "=" + JSON.stringify(v));
      } else keep.push(k + "=" + v);
    }
    return keep.join(" ");
  }

  function tensorItem(name, t, level) {
    const leaf = name.split(".").pop();
    const li = el("li", { role: "treeitem", tabindex: "-1", "data-key": "t:" + name,
                          "data-param": name, "aria-level": level,
                          "aria-selected": name === state.tensor ? "true" : "false",
                          class: "tensor" + (t.buffer ? " buffer" : "") });
    const node = el("div", { class: "node" }, el("span", { class: "twisty", "aria-hidden": "true" }),
      el("span", { class: "bname", text: leaf }),
      el("span", { class: "btype", text: t.buffer ? "buffer" : "parameter" }),
      el("span", { class: "shape", text: fmtShape(t.p.shape) }),
      el("span", { class: "count", text: fmtInt(numel(t.p.shape)) +
                   (t.p.has_grad ? " · grad" : "") }));
    if (t.alias) node.append(el("span", { class: "tie", text: "= " + t.p.name }));
    li.append(node);
    li.addEventListener("click", (ev) => {
      ev.stopPropagation();
      li.focus();
      openTensor(name);
    });
    return li;
  }

  function toggle(li) {
    if (!li.hasAttribute("aria-expanded")) return;
    const open = li.getAttribute("aria-expanded") !== "true";
    li.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) state.expanded.add(li.dataset.key); else state.expanded.delete(li.dataset.key);
  }

  function revealPath(path) {
    const parts = path ? path.split(".") : [];
    state.expanded.add("<root>");
    for (let i = 1; i <= parts.length; i++) state.expanded.add("b:" + parts.slice(0, i).join("."));
    renderTree();
    const key = path ? "b:" + path : "<root>";
    const t = $("tree").querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (t) t.focus();
  }

  function visibleItems() {
    return Array.from($("tree").querySelectorAll('[role="treeitem"]'))
      .filter((li) => li.offsetParent !== null);
  }

  // Keyboard: Enter/Space toggle a block or open a tensor; Up/Down move;
  // Right opens (or goes to the first child), Left closes (or goes up);
  // Home/End. Focus moves by a roving tabindex, so Tab leaves the tree.
  function onTreeKey(ev) {
    const li = ev.target.closest('[role="treeitem"]');
    if (!li) return;
    const items = visibleItems();
    const i = items.indexOf(li);
    const go = (n) => { if (n) { li.tabIndex = -1; n.tabIndex = 0; n.focus(); } };
    switch (ev.key) {
      case "Enter": case " ":
        if (li.dataset.param !== undefined) openTensor(li.dataset.param); else toggle(li);
        break;
      case "ArrowDown": go(items[i + 1]); break;
      case "ArrowUp": go(items[i - 1]); break;
      case "Home": go(items[0]); break;
      case "End": go(items[items.length - 1]); break;
      case "ArrowRight":
        if (li.getAttribute("aria-expanded") === "false") toggle(li);
        else if (li.getAttribute("aria-expanded") === "true") go(items[i + 1]);
        break;
      case "ArrowLeft":
        if (li.getAttribute("aria-expanded") === "true") toggle(li);
        else go(li.parentElement.closest('[role="treeitem"]'));
        break;
      default: return;
    }
    ev.preventDefault();
  }

  /* ---- one tensor: stats, histogram, heat map ------------------------ */

  function clearTensor() {
    $("tensor-title").textContent = "No tensor selected";
    $("tensor-info").textContent = "Pick a parameter or buffer in the block tree.";
    for (const k of ["shape", "count", "min", "max", "mean", "std"]) $("stat-" + k).textContent = "–";
    const c = $("hist");
    c.getContext("2d").clearRect(0, 0, c.width, c.height);
    $("heat-fig").hidden = true;
  }

  async function openTensor(name) {
    state.tensor = name;
    for (const li of $("tree").querySelectorAll("[data-param]"))
      li.setAttribute("aria-selected", li.dataset.param === name ? "true" : "false");
    await loadTensor().catch(report);
  }

  function flatten(data, out) {
    if (Array.isArray(data)) { for (const d of data) flatten(d, out); }
    else out.push(typeof data === "string" ? Number(data) : data); // "NaN", "Infinity" travel as strings
    return out;
  }

  async function loadTensor() {
    const name = state.tensor, model = state.model;
    if (!name || !model) return;
    const field = $("field").value;
    $("tensor-title").textContent = (field === "grad" ? "∇ " : "") + name;
    // ?field= answers the tensor itself (null: no gradient yet); what it
    // is (shape, device, buffer or not) comes from the parameters list.
    const t = await api("/v1/models/" + enc(model) + "/parameters/" + enc(name) +
                        "?field=" + field + "&layout=flat");
    if (state.tensor !== name || state.model !== model) return;
    const entry = state.params ? tensorIndex().get(name) : null;
    if (!t) {
      for (const k of ["shape", "count", "min", "max", "mean", "std"]) $("stat-" + k).textContent = "–";
      if (entry) $("stat-shape").textContent = fmtShape(entry.p.shape);
      $("tensor-info").textContent = field === "grad"
        ? "No gradient yet: run a backward pass (POST /v1/models/" + model + "/backward)."
        : "No value.";
      const c = $("hist");
      c.getContext("2d").clearRect(0, 0, c.width, c.height);
      $("heat-fig").hidden = true;
      return;
    }
    const vals = flatten(t.data, []);
    const s = stats(vals);
    $("tensor-info").textContent = t.dtype + " on " +
      ((entry && entry.p.device) || state.info.device) +
      (entry ? (entry.buffer ? " · buffer" : " · requires_grad " + entry.p.requires_grad) : "") +
      (entry && entry.alias ? " · tied: the same tensor as " + entry.p.name : "") +
      " · read " + new Date().toLocaleTimeString();
    $("stat-shape").textContent = fmtShape(t.shape);
    $("stat-count").textContent = fmtInt(vals.length);
    $("stat-min").textContent = fmtNum(s.min);
    $("stat-max").textContent = fmtNum(s.max);
    $("stat-mean").textContent = fmtNum(s.mean);
    $("stat-std").textContent = fmtNum(s.std);
    drawHistogram(vals, s, name);
    if (t.shape.length === 2) drawHeat(vals, t.shape, name);
    else $("heat-fig").hidden = true;
  }

  // Two passes (mean, then squared deviations) in double precision: the
  // same numbers numpy gives for the values the API printed.
  function stats(v) {
    let min = Infinity, max = -Infinity, sum = 0, n = 0;
    for (const x of v) {
      if (Number.isNaN(x)) continue;
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x; n++;
    }
    const mean = n ? sum / n : NaN;
    let sq = 0;
    for (const x of v) if (!Number.isNaN(x)) sq += (x - mean) * (x - mean);
    return { min: n ? min : NaN, max: n ? max : NaN, mean, std: n ? Math.sqrt(sq / n) : NaN, n };
  }

  function drawHistogram(vals, s, name) {
    const c = $("hist"), g = c.getContext("2d");
    const W = c.width, H = c.height, padL = 8, padB = 22, padT = 8;
    g.clearRect(0, 0, W, H);
    const bins = 40;
    const counts = new Array(bins).fill(0);
    const finite = isFinite(s.min) && isFinite(s.max);
    const span = finite ? s.max - s.min : 0;
    for (const x of vals) {
      if (!isFinite(x)) continue;
      let b = span > 0 ? Math.floor((x - s.min) / span * bins) : Math.floor(bins / 2);
      if (b >= bins) b = bins - 1;
      if (b < 0) b = 0;
      counts[b]++;
    }
    const top = Math.max(1, ...counts);
    const bw = (W - 2 * padL) / bins;
    g.fillStyle = "#0b5cad";
    counts.forEach((k, i) => {
      const h = (H - padB - padT) * k / top;
      g.fillRect(padL + i * bw + 0.5, H - padB - h, Math.max(1, bw - 1), h);
    });
    g.strokeStyle = "#59636e";
    g.beginPath(); g.moveTo(padL, H - padB + 0.5); g.lineTo(W - padL, H - padB + 0.5); g.stroke();
    if (finite && span > 0 && s.mean >= s.min && s.mean <= s.max) {
      const mx = padL + (s.mean - s.min) / span * (W - 2 * padL);
      g.strokeStyle = "#a40e26";
      g.beginPath(); g.moveTo(mx, padT); g.lineTo(mx, H - padB); g.stroke();
    }
    g.fillStyle = "#1b1f24";
    g.font = "12px sans-serif";
    g.textBaseline = "bottom";
    g.textAlign = "left"; g.fillText(fmtNum(s.min), padL, H - 4);
    g.textAlign = "right"; g.fillText(fmtNum(s.max), W - padL, H - 4);
    g.textAlign = "center"; g.fillText("max bin " + top, W / 2, H - 4);
    c.setAttribute("aria-label", "Histogram of " + name + ": " + bins + " bins from " +
      fmtNum(s.min) + " to " + fmtNum(s.max) + ", tallest bin " + top + " values");
  }

  // 2-D weights as a diverging map (blue < 0 < red, white at 0), scaled by
  // the largest magnitude; large matrices are averaged down to 256 cells a
  // side.
  function drawHeat(vals, shape, name) {
    const [R, C] = shape;
    const rs = Math.max(1, Math.ceil(R / 256)), cs = Math.max(1, Math.ceil(C / 256));
    const h = Math.ceil(R / rs), w = Math.ceil(C / cs);
    const cell = new Float64Array(h * w), cnt = new Uint32Array(h * w);
    for (let i = 0; i < R; i++)
      for (let j = 0; j < C; j++) {
        const x = vals[i * C + j];
        if (!isFinite(x)) continue;
        const k = Math.floor(i / rs) * w + Math.floor(j / cs);
        cell[k] += x; cnt[k]++;
      }
    let amax = 0;
    for (let k = 0; k < cell.length; k++) {
      if (cnt[k]) cell[k] /= cnt[k];
      amax = Math.max(amax, Math.abs(cell[k]));
    }
    const c = $("heat");
    c.width = w; c.height = h;
    // Small matrices are scaled up; a thin one (a 256x20 weight) gets
    // stretched cells rather than a one-pixel sliver.
    const scale = Math.max(1, Math.floor(256 / Math.max(w, h)));
    c.style.width = Math.min(480, Math.max(160, w * scale)) + "px";
    c.style.height = Math.min(256, Math.max(64, h * scale)) + "px";
    const g = c.getContext("2d"), img = g.createImageData(w, h);
    for (let k = 0; k < cell.length; k++) {
      const t = amax > 0 ? cell[k] / amax : 0, a = Math.abs(t);
      const o = k * 4;
      const lo = Math.round(255 * (1 - a));
      if (t >= 0) { img.data[o] = 255; img.data[o + 1] = lo; img.data[o + 2] = lo; }
      else { img.data[o] = lo; img.data[o + 1] = lo; img.data[o + 2] = 255; }
      img.data[o + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    $("heat-fig").hidden = false;
    const note = rs > 1 || cs > 1 ? " (each cell the mean of " + rs + "×" + cs + ")" : "";
    $("heat-cap").textContent = "Heat map " + R + "×" + C + note + ": blue −" +
      fmtNum(amax) + ", white 0, red +" + fmtNum(amax) + ".";
    c.setAttribute("aria-label", "Heat map of " + name + ", " + R + " rows by " + C + " columns");
  }

  /* ---- forward --------------------------------------------------------- */

  function parseShape(text) {
    const dims = text.split(/[,x× ]+/).filter(Boolean).map(Number);
    if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 0))
      throw new Error("input shape: give whole numbers like 1,20");
    return dims;
  }

  // Standard normal draws (Box-Muller), rounded to 4 decimals so the
  // pasted form stays short; the server sees exactly the printed numbers.
  function randn() {
    let u = 0;
    while (u === 0) u = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
  }

  function nest(flat, shape) {
    if (shape.length <= 1) return flat.slice(0, shape.length ? shape[0] : 1);
    const step = numel(shape.slice(1)), out = [];
    for (let i = 0; i < shape[0]; i++) out.push(nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
    return out;
  }

  function randomInput() {
    try {
      const shape = parseShape($("fwd-in-shape").value);
      const n = numel(shape);
      if (n > 100000) throw new Error("input shape: at most 100000 values from the page");
      const flat = [];
      for (let i = 0; i < n; i++) flat.push(Math.round(randn() * 1e4) / 1e4);
      $("fwd-input").value = JSON.stringify(nest(flat, shape));
      clearError();
    } catch (e) { report(e); }
  }

  function fmtNested(data, depth) {
    if (!Array.isArray(data)) return String(data);
    if (!data.length || !Array.isArray(data[0])) return "[" + data.map(String).join(", ") + "]";
    const pad = " ".repeat(depth + 1);
    return "[" + data.map((d, i) => (i ? pad : "") + fmtNested(d, depth + 1)).join(",\n") + "]";
  }

  async function runForward(ev) {
    ev.preventDefault();
    if (!state.model) { showError("Select a model first."); return; }
    const text = $("fwd-input").value.trim();
    if (!text) randomInput();
    let inputs;
    try { inputs = JSON.parse($("fwd-input").value); }
    catch (e) { showError("Input is not JSON: " + e.message); return; }
    const status = $("fwd-status");
    status.textContent = "running…";
    const t0 = performance.now();
    try {
      const j = await api("/v1/models/" + enc(state.model) + "/forward", { method: "POST", json: { inputs } });
      const out = j.outputs;
      $("fwd-out-shape").textContent = fmtShape(out.shape);
      $("fwd-out").textContent = fmtNested(out.data, 0);
      status.textContent = "done in " + (performance.now() - t0).toFixed(1) + " ms (" + out.dtype + ")";
      clearError();
    } catch (e) {
      status.textContent = "failed";
      report(e);
    }
  }

  /* ---- devices --------------------------------------------------------- */

  async function loadDevices() {
    const j = await api("/v1/devices");
    const tb = $("devices").tBodies[0];
    tb.replaceChildren();
    for (const d of j.devices || []) {
      const here = modelsCache.filter((m) => m.device_bytes ? d.device in m.device_bytes : m.device === d.device);
      const models = el("td", {});
      if (!here.length) models.append(el("span", { class: "muted", text: "none" }));
      here.forEach((m, i) => {
        if (i) models.append(", ");
        models.append(el("button", { type: "button", class: "link", text: m.name,
                                     onclick: () => selectModel(m.name).catch(report) }),
          " " + fmtBytes(m.device_bytes ? m.device_bytes[d.device] : m.bytes));
      });
      const mem = d.total_memory === null || d.total_memory === undefined ? "–"
        : fmtBytes(d.free_memory) + " / " + fmtBytes(d.total_memory);
      tb.append(el("tr", { "data-device": d.device },
        el("td", { text: d.device }),
        el("td", { text: d.name + (d.compute_capability ? " (sm " + d.compute_capability + ")" : "") }),
        el("td", { class: "num", title: fmtInt(d.allocated) + " bytes" +
                   (d.budget ? ", budget " + fmtBytes(d.budget) : ""),
                   text: fmtBytes(d.allocated) + (d.budget ? " of " + fmtBytes(d.budget) : "") }),
        el("td", { class: "num", text: mem }),
        models));
    }
  }

  /* ---- metrics strip: Prometheus text from /metrics --------------------- */

  // Parses the text exposition format into [{name, labels, value}]. Tolerant:
  // comments, timestamps and lines it cannot read are skipped.
  function parseProm(text) {
    const out = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line[0] === "#") continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
        let l;
        while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
      const v = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
      if (!Number.isNaN(v) || m[4] === "NaN") out.push({ name: m[1], labels, value: v });
    }
    return out;
  }

  const sumOf = (samples, name) => {
    let s = 0, found = false;
    for (const x of samples) if (x.name === name) { s += x.value; found = true; }
    return found ? s : null;
  };

  // Cumulative buckets of a histogram family summed over its other
  // labels: [[le, count]] ascending.
  function buckets(samples, family) {
    const m = new Map();
    for (const x of samples) {
      if (x.name !== family + "_bucket" || x.labels.le === undefined) continue;
      const le = x.labels.le === "+Inf" ? Infinity : Number(x.labels.le);
      m.set(le, (m.get(le) || 0) + x.value);
    }
    return Array.from(m.entries()).sort((a, b) => a[0] - b[0]);
  }

  // Quantile q from cumulative buckets, linear within the bucket (as
  // Prometheus' histogram_quantile does); the +Inf bucket answers the
  // highest finite bound.
  function quantile(bk, q) {
    if (!bk.length) return null;
    const total = bk[bk.length - 1][1];
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0, prevCount = 0;
    for (const [le, c] of bk) {
      if (c >= rank) {
        if (le === Infinity) return prevLe;
        if (c === prevCount) return le;
        return prevLe + (le - prevLe) * (rank - prevCount) / (c - prevCount);
      }
      prevLe = le; prevCount = c;
    }
    return prevLe;
  }

  const diffBuckets = (a, b) => {
    const old = new Map(b);
    return a.map(([le, c]) => [le, c - (old.get(le) || 0)]);
  };

  // Family names: the documented ones first, else any family that looks
  // like them, so a renamed counter still shows.
  function findFamily(samples, preferred, pattern) {
    const names = new Set(samples.map((s) => s.name));
    for (const p of preferred) if (names.has(p) || names.has(p + "_bucket")) return p;
    for (const n of names) if (pattern.test(n)) return n.replace(/_(bucket|sum|count)$/, "");
    return null;
  }

  // What the strip shows, from this scrape's samples and the previous
  // one's (null on the first) taken dt seconds earlier: rates and
  // quantiles over the interval when it saw traffic, else since start.
  // Pure, so the browser test can feed it a made-up exposition.
  function summarize(prev, samples, dt) {
    const out = {};
    const reqFam = findFamily(samples, ["blockd_http_requests_total"], /requests_total$/);
    const total = reqFam ? sumOf(samples, reqFam) : null;
    if (total !== null) {
      out.requests = total;
      const ptotal = prev ? sumOf(prev, reqFam) : null;
      if (ptotal !== null && dt > 0) out.reqPerSec = (total - ptotal) / dt;
    }
    const durFam = findFamily(samples, ["blockd_http_request_duration_seconds"],
                              /request_duration_seconds_bucket$/);
    if (durFam) {
      let bk = buckets(samples, durFam);
      out.window = "since start";
      if (prev) {
        const d = diffBuckets(bk, buckets(prev, durFam));
        if (d.length && d[d.length - 1][1] > 0) { bk = d; out.window = "last " + dt.toFixed(0) + " s"; }
      }
      out.p50 = quantile(bk, 0.5);
      out.p99 = quantile(bk, 0.99);
    }
    const batchFam = findFamily(samples, ["blockd_model_batch_size", "blockd_batch_size"], /batch_size/);
    if (batchFam) {
      const s = sumOf(samples, batchFam + "_sum"), c = sumOf(samples, batchFam + "_count");
      if (s !== null && c) {
        out.batchAvg = s / c;
        const ps = prev ? sumOf(prev, batchFam + "_sum") : null;
        const pc = prev ? sumOf(prev, batchFam + "_count") : null;
        if (pc !== null && c > pc) out.batchAvg = (s - ps) / (c - pc);
        out.batchMax = quantile(buckets(samples, batchFam), 1);
      } else if (c === null) {
        const g = sumOf(samples, batchFam);
        if (g !== null) out.batchAvg = g; // a gauge
      }
    }
    return out;
  }

  function metricsText(m, nSamples) {
    const parts = [];
    if (m.reqPerSec !== undefined) parts.push("req/s " + m.reqPerSec.toFixed(2));
    if (m.requests !== undefined) parts.push("requests " + fmtInt(m.requests));
    if (m.p99 !== undefined && m.p99 !== null)
      parts.push("p50 " + fmtMs(m.p50) + " · p99 " + fmtMs(m.p99) + " (" + m.window + ")");
    if (m.batchAvg !== undefined)
      parts.push("batch avg " + m.batchAvg.toFixed(1) +
                 (m.batchMax !== undefined && m.batchMax !== null ? " · max ≤ " + fmtNum(m.batchMax) : ""));
    return parts.length ? "metrics: " + parts.join(" · ")
      : "metrics: " + nSamples + " samples, none this console knows";
  }

  async function loadMetrics() {
    const strip = $("metrics");
    // a daemon without /metrics is asked again only every 30 s (each
    // probe is a 404 in the browser's console)
    if (state.metricsRetryAt && performance.now() < state.metricsRetryAt) return;
    state.metricsRetryAt = 0;
    let text;
    try {
      text = await api("/metrics", { raw: true, headers: { Accept: "text/plain" } });
    } catch (e) {
      strip.textContent = e.status === 404 ? "metrics unavailable (this daemon has no /metrics)"
        : "metrics unavailable (" + (e.code || e.message) + ")";
      state.lastScrape = null;
      if (e.status === 404) state.metricsRetryAt = performance.now() + 30000;
      return;
    }
    const now = performance.now() / 1000, samples = parseProm(text);
    const prev = state.lastScrape;
    state.lastScrape = { t: now, samples };
    const m = summarize(prev ? prev.samples : null, samples, prev ? now - prev.t : 0);
    strip.textContent = metricsText(m, samples.length);
  }

  function fmtMs(s) {
    if (s === null || s === undefined) return "–";
    return s < 1 ? (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms" : s.toFixed(2) + " s";
  }

  /* ---- refresh ---------------------------------------------------------- */

  // One refresh at a time; a refresh asked for meanwhile (a click, the
  // token just typed) runs once the current one ends, so it sees what
  // changed after the first one started.
  let busy = false, again = false;
  async function refreshAll() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        try {
          await loadModels();
          await Promise.all([loadModel(), loadDevices(), loadMetrics()]);
          $("updated").textContent = "updated " + new Date().toLocaleTimeString();
          clearError();
        } catch (e) {
          report(e);
        }
      } while (again);
    } finally {
      busy = false;
    }
  }

  function setAuto(on) {
    if (state.autoTimer) { clearInterval(state.autoTimer); state.autoTimer = null; }
    if (on) state.autoTimer = setInterval(refreshAll, 2000);
    try { sessionStorage.setItem("blockd.auto", on ? "1" : "0"); } catch (e) { /* private mode */ }
  }

  function init() {
    $("token").value = token();
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      try { sessionStorage.setItem(TOKEN_KEY, $("token").value.trim()); } catch (e) { /* ignore */ }
      $("token-form").classList.remove("needed");
      clearError();
      refreshAll();
    });
    $("token-clear").addEventListener("click", () => {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
      $("token").value = "";
      refreshAll();
    });
    $("refresh").addEventListener("click", refreshAll);
    $("auto").addEventListener("change", (ev) => setAuto(ev.target.checked));
    $("tree").addEventListener("keydown", onTreeKey);
    $("tree").addEventListener("focusin", (ev) => {
      // keep exactly one tree item in the tab order: the last focused
      const li = ev.target.closest('[role="treeitem"]');
      if (!li) return;
      for (const o of $("tree").querySelectorAll('[role="treeitem"][tabindex="0"]')) if (o !== li) o.tabIndex = -1;
      li.tabIndex = 0;
    });
    $("field").addEventListener("change", () => loadTensor().catch(report));
    $("tensor-refresh").addEventListener("click", () => loadModel().catch(report));
    $("fwd-random").addEventListener("click", randomInput);
    $("fwd-form").addEventListener("submit", runForward);
    let auto = false;
    try { auto = sessionStorage.getItem("blockd.auto") === "1"; } catch (e) { /* ignore */ }
    $("auto").checked = auto;
    setAuto(auto);
    clearTensor();
    refreshAll();
  }

  // Exposed for the browser test and for poking around in devtools.
  window.blockdConsole = { parseProm, quantile, buckets, summarize, metricsText, stats, refreshAll, state };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
