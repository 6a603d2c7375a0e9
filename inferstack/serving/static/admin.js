// The operator page: /v1/admin/stats every few seconds, as tiles with small SVG charts and tables.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const EVERY_MS = 3000;
  const SVG = "http://www.w3.org/2000/svg";
  const TILES = [
    ["requests_per_min", "Requests / min", 1], ["latency_p50_ms", "Latency p50 (ms)", 0],
    ["latency_p95_ms", "Latency p95 (ms)", 0], ["ttft_p50_ms", "TTFT p50 (ms)", 0],
    ["ttft_p95_ms", "TTFT p95 (ms)", 0], ["tokens_per_s", "Tokens / s", 1], ["errors_per_min", "5xx / min", 1],
  ];

  function shown(value, digits) {
    return value == null ? "–" : Number(value).toFixed(digits);
  }

  function sparkline(points) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 100 36");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    const values = points.map((v) => (v == null ? 0 : v));
    if (values.length > 1) {
      const top = Math.max(...values) || 1;
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", values.map((v, i) => `${(i * 100) / (values.length - 1)},${34 - (v / top) * 32}`).join(" "));
      svg.append(line);
    }
    return svg;
  }

  function table(id, head, rows) {
    const node = $(id);
    const header = el("tr");
    for (const name of head) header.append(el("th", name));
    const body = rows.length ? rows : [[`none yet`]];
    node.replaceChildren(el("thead"), el("tbody"));
    node.tHead.append(header);
    for (const row of body) {
      const tr = el("tr");
      for (const cell of row) tr.append(cell instanceof Node ? cell : el("td", String(cell)));
      node.tBodies[0].append(tr);
    }
  }

  function health(up, text) {
    return el("td", text, up ? "up" : "down");
  }

  function render(stats) {
    const tiles = TILES.map(([key, label, digits]) => {
      const tile = el("div", undefined, "tile");
      tile.dataset.metric = key;
      tile.append(el("div", label, "label"), el("div", shown(stats.window[key], digits), "value"));
      tile.append(sparkline(stats.series.map((point) => point[key])));
      return tile;
    });
    const total = el("div", undefined, "tile");
    total.dataset.metric = "requests";
    total.append(el("div", "Requests (since start)", "label"), el("div", String(stats.totals.requests), "value"));
    const screened = el("div", undefined, "tile");
    screened.dataset.metric = "retrieval_screened_out";
    screened.append(el("div", "Retrieved chunks screened out", "label"),
      el("div", String(stats.totals.retrieval_screened_out), "value"));
    $("tiles").replaceChildren(total, ...tiles, screened);
    $("status").textContent = `Rates over the last ${stats.window.seconds} s · up ${Math.round(stats.uptime_s)} s · updated ${new Date(stats.at * 1000).toLocaleTimeString()}`;

    const backends = [];
    for (const deployment of stats.backends) {
      for (const replica of deployment.replicas) {
        backends.push([deployment.deployment, String(deployment.tier), replica.id,
          health(replica.healthy, replica.healthy ? "healthy" : deployment.state),
          health(replica.circuit === "closed", replica.circuit), String(replica.in_flight),
          replica.kv_cache_usage == null ? "–" : `${Math.round(replica.kv_cache_usage * 100)} %`]);
      }
    }
    table("backends", ["deployment", "tier", "replica", "health", "circuit", "in flight", "KV cache"], backends);
    const money = (entries) => Object.entries(entries).map(([name, usd]) => [name, Number(usd).toFixed(6)]);
    table("cost-deployment", ["deployment", "USD"], money(stats.totals.cost_usd_by_deployment));
    table("cost-tenant", ["tenant", "USD"], money(stats.totals.cost_usd_by_tenant));
    table("findings", ["type", "count"], Object.entries(stats.totals.guard_findings));
    table("recent", ["time", "tenant", "deployment", "served by", "reason", "est. USD", "USD", "intent", "guard"],
      stats.recent.map((call) => [new Date(call.at * 1000).toLocaleTimeString(), call.tenant, call.deployment || "–",
        call.served_by || "–", call.reason || "–", shown(call.estimated_cost_usd, 6), shown(call.actual_cost_usd, 6),
        call.intent || "–", call.guard_findings.join(", ") || "–"]));
  }

  async function refresh() {
    try {
      render(await Api.json("/v1/admin/stats", { admin: true }));
      document.body.dataset.ready = "true";
    } catch (error) {
      $("status").textContent = `Could not load the numbers: ${error.message}`;
    }
    setTimeout(refresh, EVERY_MS);
  }

  refresh();
})();
