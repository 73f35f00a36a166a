"use strict";
// The History sheet: the journal's recent trips and charge sessions (GET /api/trips, /api/charges,
// with the page's token), consumption per trip as a bar chart and the last charge curve. A module of
// its own beside app.js: it only adds the sheet and the button that opens it.
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const TRIPS = 8;
  const CHARGES = 4;
  const token = new URLSearchParams(location.search).get("token");
  const $ = (selector) => document.querySelector(selector);

  async function fetchJson(path) {
    const reply = await fetch(path, { headers: token ? { Authorization: "Bearer " + token } : {}, cache: "no-store" });
    if (!reply.ok) {
      let reason = "HTTP " + reply.status;
      try { reason = (await reply.json()).error || reason; } catch (err) { /* not JSON: keep the status */ }
      throw new Error(reason);
    }
    return reply.json();
  }

  const num = (value, digits) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));
  function when(iso) {
    const d = new Date(iso);
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " +
      d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
    return el;
  }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }

  function renderTrips(trips) {
    const body = $("#history-trips tbody");
    body.replaceChildren(...trips.map((t) => row([
      when(t.start) + (t.end ? "" : " •"), num(t.distance_km, 1), num(t.wh_per_km, 0), num(t.energy_kwh, 1),
    ])));
    $("#history-trips-empty").hidden = trips.length > 0;
    // Consumption per trip, the oldest on the left.
    const chart = $("#history-consumption");
    const rated = trips.filter((t) => t.wh_per_km !== null).reverse();
    const top = Math.max(250, ...rated.map((t) => t.wh_per_km));
    const width = 300 / Math.max(rated.length, 1);
    chart.replaceChildren(...rated.map((t, i) => {
      const h = (t.wh_per_km / top) * 100;
      const g = svg("g", { class: "bar", "data-wh": t.wh_per_km });
      g.append(svg("rect", { x: i * width + width * 0.15, y: 110 - h, width: width * 0.7, height: h, rx: 2 }));
      const label = svg("text", { x: i * width + width / 2, y: 106 - h, "text-anchor": "middle" });
      label.textContent = num(t.wh_per_km, 0);
      g.append(label);
      return g;
    }));
  }

  function renderCharges(charges) {
    const body = $("#history-charges tbody");
    body.replaceChildren(...charges.map((c) => row([
      when(c.start) + (c.end ? "" : " •"), num(c.energy_kwh, 1), num(c.soc_start, 0) + "→" + num(c.soc_end, 0),
      num(c.max_power_kw, 0),
    ])));
    $("#history-charges-empty").hidden = charges.length > 0;
    // The last charge curve: power against SoC, 0-100 % across.
    const last = charges.find((c) => c.curve && c.curve.length);
    const curve = $("#history-curve");
    curve.replaceChildren();
    $("#history-curve-label").textContent = last ? "last charge, " + when(last.start) : "no charge curve yet";
    if (!last) return;
    const top = Math.max(...last.curve.map((p) => p[1]), 1);
    const points = last.curve.map(([soc, kw]) => `${(soc * 3).toFixed(1)},${(110 - (kw / top) * 100).toFixed(1)}`);
    curve.append(svg("polyline", { points: points.join(" "), class: "curve", "data-points": last.curve.length }));
    const peak = svg("text", { x: 4, y: 12 });
    peak.textContent = num(top, 0) + " kW";
    curve.append(peak);
  }

  async function load() {
    const status = $("#history-status");
    status.textContent = "loading…";
    try {
      const [trips, charges] = await Promise.all([
        fetchJson(`/api/trips?limit=${TRIPS}`), fetchJson(`/api/charges?limit=${CHARGES}`),
      ]);
      renderTrips(trips);
      renderCharges(charges);
      status.textContent = "";
    } catch (err) {
      status.textContent = "The journal cannot be shown: " + err.message;
    }
  }

  function show(open) {
    $("#history").hidden = !open;
    $("#open-history").setAttribute("aria-expanded", String(open));
    if (open) load();
  }

  $("#open-history").addEventListener("click", () => show($("#history").hidden));
  $("#close-history").addEventListener("click", () => show(false));
  $("#history-refresh").addEventListener("click", load);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("#history").hidden) show(false);
  });
})();
