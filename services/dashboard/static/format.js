// Formatting for people in India: rupees with lakh/crore grouping and IST times.
// Done by hand (not Intl) so it reads the same in every browser and locale.
"use strict";

const IST_OFFSET_MS = 19800000; // +05:30

// 12345678.9 -> "₹1,23,45,678.90"; -1500 -> "-₹1,500.00"; null -> "—"
function inr(value, digits = 2) {
  if (value === null || value === undefined || !isFinite(value)) return "—";
  const neg = value < 0;
  const fixed = Math.abs(value).toFixed(digits);
  const [whole, frac] = fixed.split(".");
  let grouped = whole;
  if (whole.length > 3) {
    const head = whole.slice(0, -3);
    grouped = head.replace(/\B(?=(\d{2})+(?!\d))/g, ",") + "," + whole.slice(-3);
  }
  return (neg ? "-" : "") + "₹" + grouped + (frac !== undefined ? "." + frac : "");
}

// Epoch ns -> "2026-11-25 09:15:00" in IST (or "HH:MM:SS" when short).
function istTime(ns, short = false) {
  if (!ns) return "";
  const d = new Date(Number(ns) / 1e6 + IST_OFFSET_MS);
  const p = (n) => String(n).padStart(2, "0");
  const hms = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  if (short) return hms;
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${hms}`;
}

// Epoch ns -> a chart time (seconds) that the chart, which shows UTC, displays as IST.
function chartTime(ns) {
  return Math.floor(Number(ns) / 1e9) + IST_OFFSET_MS / 1000;
}

function num(value, digits = 2) {
  if (value === null || value === undefined || !isFinite(value)) return "—";
  return Number(value).toFixed(digits);
}

if (typeof module !== "undefined") module.exports = { inr, istTime, chartTime, num };
