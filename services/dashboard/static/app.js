// kite-algo dashboard: loads the state from /api/*, then follows /api/stream (server-sent events).
// No framework; lightweight-charts (vendored) draws the charts.
"use strict";

const $ = (sel) => document.querySelector(sel);
const MAX_ROWS = 500;
const LC = window.LightweightCharts;
const state = { orders: new Map(), services: new Map(), symbols: [], everDown: false, live: false };
// Order-event latency (publish -> rendered), read by the benchmark and the browser test.
window.__dash = { orderLatencies: [], ordersRendered: 0, events: 0 };

// -- helpers -------------------------------------------------------------------------------
function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function cells(tr, values) {
  tr.textContent = "";
  for (const v of values) {
    const td = document.createElement("td");
    if (v && typeof v === "object") {
      td.textContent = v.text;
      if (v.cls) td.className = v.cls;
    } else td.textContent = v;
    tr.appendChild(td);
  }
  return tr;
}
const money = (x) => ({ text: inr(x), cls: "num " + (x > 0 ? "pos" : x < 0 ? "neg" : "") });
const right = (x) => ({ text: String(x), cls: "num" });
async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}
function nowNs() { return (performance.timeOrigin + performance.now()) * 1e6; }

// -- tabs ----------------------------------------------------------------------------------
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === "tab-" + name);
  if (name === "chart") loadCandles();
  if (name === "performance") loadPerformance();
  if (name === "health") loadHealth();
  if (name === "backtests") loadBacktests();
  for (const c of Object.values(charts)) if (c) c.applyOptions({ autoSize: true });
}

// -- charts --------------------------------------------------------------------------------
const chartOpts = {
  autoSize: true,
  layout: { background: { color: "#161c23" }, textColor: "#d8dee4" },
  grid: { vertLines: { color: "#222a33" }, horzLines: { color: "#222a33" } },
  timeScale: { timeVisible: true, secondsVisible: false },
  localization: { priceFormatter: (p) => inr(p) },
};
const charts = {};
function lineChart(id) {
  const c = LC.createChart($(id), chartOpts);
  charts[id] = c;
  return c;
}
const equityChart = lineChart("#equity-chart");
const equitySeries = equityChart.addSeries(LC.AreaSeries, { lineColor: "#3b82f6", topColor: "rgba(59,130,246,.3)",
  bottomColor: "rgba(59,130,246,0)" });
const perfChart = lineChart("#perf-chart");
const perfSeries = new Map();
const PALETTE = ["#f5a524", "#3b82f6", "#26a269", "#e5484d", "#a855f7", "#14b8a6", "#eab308"];
const candleChart = lineChart("#candle-chart");
const candleSeries = candleChart.addSeries(LC.CandlestickSeries, { upColor: "#26a269", downColor: "#e5484d",
  borderVisible: false, wickUpColor: "#26a269", wickDownColor: "#e5484d" });
const ema20 = candleChart.addSeries(LC.LineSeries, { color: "#f5a524", lineWidth: 1, priceLineVisible: false });
const ema50 = candleChart.addSeries(LC.LineSeries, { color: "#3b82f6", lineWidth: 1, priceLineVisible: false });
const markers = LC.createSeriesMarkers(candleSeries, []);

function setTimeSeries(series, points) {
  // one point per chart second, ascending (the chart's requirement)
  const byTime = new Map();
  for (const p of points) byTime.set(p.time, p);
  series.setData([...byTime.values()].sort((a, b) => a.time - b.time));
}

// -- portfolio -----------------------------------------------------------------------------
function renderSession(s) {
  const e = $("#session");
  e.dataset.halted = String(s.halted);
  e.textContent = s.halted ? `HALTED — ${s.halt_reason || "manual"}` : "session: trading";
  if (s.killed_symbols && s.killed_symbols.length) e.textContent += ` · killed: ${s.killed_symbols.join(", ")}`;
}
function renderPortfolio(p) {
  $("#mode").textContent = p.mode.toUpperCase();
  $("#asof").textContent = p.as_of ? `market time ${p.as_of} IST` : "";
  const cards = [
    ["Capital", p.capital], ["Total equity", p.total_equity], ["Realized PnL", p.realized_pnl],
    ["Unrealized PnL", p.unrealized_pnl], ["Charges", p.charges], ["Net day PnL", p.day_pnl],
  ];
  const box = $("#pf-cards");
  box.textContent = "";
  for (const [label, v] of cards) {
    const c = el("div", { class: "card" });
    c.appendChild(el("div", { class: "label" }, label));
    c.appendChild(el("div", { class: "value " + (label.includes("PnL") ? (v > 0 ? "pos" : v < 0 ? "neg" : "") : "") }, inr(v)));
    box.appendChild(c);
  }
  const body = $("#positions tbody");
  body.textContent = "";
  for (const x of p.positions) {
    body.appendChild(cells(el("tr"), [x.symbol, x.exchange, x.product, right(x.quantity), money(x.avg_price),
      money(x.last_price), money(x.realized_pnl), money(x.unrealized_pnl), strategiesOf(x)]));
  }
  if (!p.positions.length) body.appendChild(cells(el("tr"), ["no positions"]));
  if (p.session) renderSession(p.session);
}
// "ema +130, orb -65" when strategies share the symbol; else the one owner
function strategiesOf(x) {
  const parts = Object.entries(x.by_strategy || {}).filter(([, q]) => q !== 0);
  if (parts.length < 2) return x.strategy;
  return parts.map(([s, q]) => `${s || "(none)"} ${q > 0 ? "+" : ""}${q}`).join(", ");
}
function renderEquity(points) {
  setTimeSeries(equitySeries, points.map((q) => ({ time: chartTime(q.ts_ns), value: q.equity })));
  equityChart.timeScale().fitContent();
}

// -- orders --------------------------------------------------------------------------------
function renderOrder(o, flash) {
  let tr = state.orders.get(o.order_id);
  const fresh = !tr;
  if (fresh) {
    tr = el("tr", { "data-order-id": o.order_id });
    state.orders.set(o.order_id, tr);
  }
  cells(tr, [istTime(o.updated_ns), o.order_id, o.symbol, { text: o.side, cls: o.side === "BUY" ? "pos" : "neg" },
    right(o.quantity), right(o.filled_quantity), money(o.average_price || o.price), o.status, o.strategy,
    { text: o.status_message, cls: "wrap" }]);
  tr.dataset.status = o.status;
  if (fresh) {
    const body = $("#orders tbody");
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) {
      const last = body.lastChild;
      state.orders.delete(last.dataset.orderId);
      last.remove();
    }
  }
  if (flash) { tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash"); }
  window.__dash.ordersRendered += 1;
}
function renderDecision(d) {
  const li = el("li", {}, `${d.time.slice(11)}  ${d.decision}  ${d.symbol}: ${d.reason}`);
  const ul = $("#decisions");
  ul.insertBefore(li, ul.firstChild);
  while (ul.children.length > 200) ul.lastChild.remove();
}

// -- signals -------------------------------------------------------------------------------
const SHOWN_INDICATORS = ["ema20", "ema50", "rsi14", "atr", "adx14", "vwap", "trend_context", "vol_regime"];
function renderSignal(s, atTop) {
  const ind = SHOWN_INDICATORS.filter((k) => s.indicators[k] !== undefined && s.indicators[k] !== null)
    .map((k) => `${k}=${typeof s.indicators[k] === "number" ? num(s.indicators[k]) : s.indicators[k]}`).join(" ");
  const tr = cells(el("tr", { "data-signal-id": s.signal_id }), [istTime(s.ts_ns), s.strategy, s.symbol, s.signal,
    s.timeframe, money(s.price), right(num(s.confidence)), { text: s.reason, cls: "wrap" }, { text: ind, cls: "wrap" }]);
  const body = $("#signals tbody");
  if (atTop) body.insertBefore(tr, body.firstChild); else body.appendChild(tr);
  while (body.children.length > MAX_ROWS) body.lastChild.remove();
}

// -- performance ---------------------------------------------------------------------------
async function loadPerformance() {
  const p = await getJSON("/api/performance");
  const body = $("#performance tbody");
  body.textContent = "";
  p.strategies.forEach((s, i) => {
    body.appendChild(cells(el("tr"), [s.strategy, right(s.trades), right((s.win_rate * 100).toFixed(1) + "%"),
      money(s.gross_pnl), money(s.charges), money(s.net_pnl), money(s.largest_win), money(s.largest_loss),
      right(s.profit_factor === null ? "—" : num(s.profit_factor)), money(-s.max_drawdown)]));
    let series = perfSeries.get(s.strategy);
    if (!series) {
      series = perfChart.addSeries(LC.LineSeries, { color: PALETTE[i % PALETTE.length], lineWidth: 2, title: s.strategy });
      perfSeries.set(s.strategy, series);
    }
    setTimeSeries(series, s.curve.map((q) => ({ time: chartTime(q.ts_ns), value: q.net_pnl })));
  });
  if (!p.strategies.length) body.appendChild(cells(el("tr"), ["no closed trade yet"]));
}

// -- backtests -----------------------------------------------------------------------------
async function loadBacktests() {
  const b = await getJSON("/api/backtests");
  $("#bt-folder").textContent = b.folder;
  const body = $("#backtests tbody");
  body.textContent = "";
  for (const r of b.reports) {
    const tr = cells(el("tr", { "data-report": r.name }), ["", r.first_day || "—", r.last_day || "—", right(r.days),
      right(r.trades), money(r.net_pnl), r.strategies.join(", "), istTime(r.written_at * 1e9) + " IST"]);
    const link = el("a", { href: r.url, target: "_blank", rel: "noopener" }, r.title + " (" + r.name + ")");
    tr.firstChild.appendChild(link);
    body.appendChild(tr);
  }
  if (!b.reports.length) body.appendChild(cells(el("tr"), ["no backtest report in " + b.folder]));
}

// -- health --------------------------------------------------------------------------------
function renderServices() {
  const body = $("#services tbody");
  body.textContent = "";
  const now = Date.now();
  for (const s of [...state.services.values()].sort((a, b) => a.service.localeCompare(b.service))) {
    const age = s.heartbeat_age_s + (now - s._seen) / 1000;
    body.appendChild(cells(el("tr", { "data-service": s.service }), [s.service, { text: s.state, cls: "state-" + s.state },
      { text: age.toFixed(1) + " s", cls: "num" + (age > 10 ? " stale" : "") }, String(s.pid), { text: s.detail, cls: "wrap" }]));
  }
}
function takeService(s) { s._seen = Date.now(); state.services.set(s.service, s); }
async function loadHealth() {
  const h = await getJSON("/api/health");
  for (const s of h.services) takeService(s);
  renderServices();
  const body = $("#groups tbody");
  body.textContent = "";
  for (const g of h.groups) {
    body.appendChild(cells(el("tr"), [g.stream, g.group, right(g.consumers), right(g.pending), right(g.lag ?? "—")]));
  }
  const box = $("#redis");
  box.textContent = "";
  const items = [["Redis", h.redis.ok ? `up ${h.redis.version}` : `DOWN ${h.redis.error}`],
    ["Redis latency", h.redis.latency_ms === null ? "—" : h.redis.latency_ms.toFixed(2) + " ms"],
    ["Redis memory", h.redis.used_memory_bytes ? (h.redis.used_memory_bytes / 1048576).toFixed(1) + " MiB" : "—"],
    ["Dashboard RSS", h.dashboard.memory_rss_bytes ? (h.dashboard.memory_rss_bytes / 1048576).toFixed(1) + " MiB" : "—"],
    ["Events read", String(h.dashboard.delivered)], ["Browsers", String(h.dashboard.clients)]];
  for (const [label, v] of items) {
    const c = el("div", { class: "card" });
    c.appendChild(el("div", { class: "label" }, label));
    c.appendChild(el("div", { class: "value" }, v));
    box.appendChild(c);
  }
}
setInterval(() => { if ($("#tab-health").classList.contains("active")) renderServices(); }, 1000);

// -- candles -------------------------------------------------------------------------------
async function loadSymbols() {
  const s = await getJSON("/api/symbols");
  const all = [...new Set([...s.traded, ...s.charted])].sort();
  const sel = $("#chart-symbol");
  const keep = sel.value;
  if (all.join() === state.symbols.join()) return;
  state.symbols = all;
  sel.textContent = "";
  for (const x of all) sel.appendChild(el("option", { value: x }, x + (s.traded.includes(x) ? " ●" : "")));
  if (keep && all.includes(keep)) sel.value = keep;
  else if (s.traded.length) sel.value = s.traded.find((x) => s.charted.includes(x)) || s.traded[0];
}
async function loadCandles() {
  await loadSymbols();
  const symbol = $("#chart-symbol").value;
  const tf = $("#chart-tf").value;
  if (!symbol) { $("#chart-note").textContent = "no symbol has candles yet"; return; }
  const r = await fetch(`/api/candles?symbol=${encodeURIComponent(symbol)}&tf=${tf}`, { cache: "no-store" });
  if (!r.ok) { $("#chart-note").textContent = (await r.json()).detail; candleSeries.setData([]); return; }
  const c = await r.json();
  $("#chart-note").textContent = `${c.candles.length} candles, ${c.trades.length} fills; timeframes: ${c.timeframes.join(", ")}`;
  setTimeSeries(candleSeries, c.candles.map((b) => ({ time: chartTime(b.ts_ns), open: b.open, high: b.high, low: b.low, close: b.close })));
  const line = (k) => c.candles.filter((b) => b.indicators[k] !== null && b.indicators[k] !== undefined)
    .map((b) => ({ time: chartTime(b.ts_ns), value: b.indicators[k] }));
  setTimeSeries(ema20, line("ema20"));
  setTimeSeries(ema50, line("ema50"));
  const tfSec = { "1m": 60, "5m": 300, "15m": 900 }[tf];
  const ms = c.trades.map((t) => {
    const sec = chartTime(t.ts_ns);
    return { time: sec - (sec % tfSec), position: t.side === "BUY" ? "belowBar" : "aboveBar",
      color: t.side === "BUY" ? "#26a269" : "#e5484d", shape: t.side === "BUY" ? "arrowUp" : "arrowDown",
      text: `${t.side} ${t.quantity} @ ${num(t.price)}` };
  }).sort((a, b) => a.time - b.time);
  markers.setMarkers(ms);
  candleChart.timeScale().fitContent();
}
$("#chart-symbol").addEventListener("change", loadCandles);
$("#chart-tf").addEventListener("change", loadCandles);

// -- controls ------------------------------------------------------------------------------
$("#token").value = sessionStorage.getItem("dashToken") || "";
$("#token").addEventListener("change", () => sessionStorage.setItem("dashToken", $("#token").value));
for (const b of document.querySelectorAll("#controls button")) {
  b.addEventListener("click", () => control(b.dataset.action));
}
async function control(action) {
  const body = { operator: $("#operator").value, reason: "from the dashboard" };
  if (action === "kill" || action === "revive") {
    body.symbol = $("#ctl-symbol").value.trim();
    if (!body.symbol) { $("#ctl-result").textContent = "type a symbol first"; return; }
  }
  if (["halt", "square-off", "cancel-orders", "kill"].includes(action) && !window.__dash.noConfirm &&
      !confirm(`${action} — are you sure?`)) return;
  const r = await fetch(`/api/control/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + $("#token").value },
    body: JSON.stringify(body),
  });
  const j = await r.json();
  $("#ctl-result").textContent = r.ok ? `${j.action} sent (${j.command_id}) at ${j.issued_at} IST` : `refused: ${j.detail}`;
}

// -- live ----------------------------------------------------------------------------------
function banner(text, cls) {
  const b = $("#banner");
  if (!text) { b.hidden = true; return; }
  b.textContent = text;
  b.className = "banner " + cls;
  b.hidden = false;
}
function setConn(s, text) { const c = $("#conn"); c.dataset.state = s; c.textContent = text; }

async function loadAll() {
  const [p, o, s] = await Promise.all([getJSON("/api/portfolio"), getJSON("/api/orders?limit=500"),
    getJSON("/api/signals?limit=300")]);
  renderPortfolio(p);
  renderEquity(p.equity_curve);
  for (const x of [...o.items].reverse()) renderOrder(x, false);
  $("#signals tbody").textContent = "";
  for (const x of s.items) renderSignal(x, false);
  const active = document.querySelector("#tabs button.active").dataset.tab;
  if (active !== "portfolio") showTab(active);
}

const handlers = {
  order: (d) => {
    renderOrder(d.order, true);
    const published = d.published_ns;
    requestAnimationFrame(() => {
      if (!published) return;
      const lat = window.__dash.orderLatencies;
      lat.push({ order_id: d.order.order_id, status: d.order.status, ms: (nowNs() - published) / 1e6 });
      if (lat.length > 5000) lat.shift();
    });
  },
  signal: (s) => renderSignal(s, true),
  portfolio: (p) => renderPortfolio(p),
  equity: (q) => equitySeries.update({ time: chartTime(q.ts_ns), value: q.equity }),
  session: (s) => renderSession(s),
  decision: (d) => renderDecision(d),
  health: (s) => { takeService(s); if ($("#tab-health").classList.contains("active")) renderServices(); },
  performance: () => { if ($("#tab-performance").classList.contains("active")) loadPerformance(); },
  fill: (f) => { if ($("#tab-chart").classList.contains("active") && $("#chart-symbol").value === f.symbol) loadCandles(); },
  bars: (list) => {
    if (!$("#tab-chart").classList.contains("active")) return;
    const sym = $("#chart-symbol").value, tf = $("#chart-tf").value;
    if (list.some((b) => b.symbol === sym && b.timeframe === tf)) loadCandles();
  },
};

function connect() {
  const es = new EventSource("/api/stream");
  es.addEventListener("hello", async () => {
    setConn("live", "live");
    if (state.everDown) {
      banner("Connection is back — the page is up to date again.", "back");
      setTimeout(() => banner(""), 4000);
    }
    state.live = true;
    try { await loadAll(); } catch (e) { console.error(e); }
  });
  for (const [kind, fn] of Object.entries(handlers)) {
    es.addEventListener(kind, (ev) => {
      window.__dash.events += 1;
      try { fn(JSON.parse(ev.data)); } catch (e) { console.error(kind, e); }
    });
  }
  es.onerror = () => {
    if (state.live || !state.everDown) {
      state.everDown = true;
      state.live = false;
      setConn("down", "disconnected");
      banner("Connection to the dashboard lost — retrying… (what you see may be out of date)", "down");
    }
  };
}
connect();
