// The squall status page: polls /status.json once a second and redraws the numbers.
// No inline code and nothing from elsewhere (the page's Content-Security-Policy forbids both);
// every value goes in through textContent, never as HTML.
"use strict";

const REFRESH_MS = 1000;

function text(id, value) {
  const node = document.getElementById(id);
  if (node) node.textContent = value;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return seconds.toFixed(1) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
}

function cell(row, value, className) {
  const td = document.createElement("td");
  td.textContent = value;
  if (className) td.className = className;
  row.appendChild(td);
}

function drawWorkers(workers) {
  const body = document.querySelector("#workers tbody");
  const rows = [];
  for (const w of workers) {
    const row = document.createElement("tr");
    row.dataset.pid = String(w.pid);
    cell(row, String(w.slot));
    cell(row, String(w.pid));
    cell(row, String(w.generation));
    cell(row, w.state, w.state);
    cell(row, duration(w.uptime));
    cell(row, String(w.requests), "requests");
    cell(row, w.rate.toFixed(1));
    cell(row, String(w.inflight));
    cell(row, (w.lag * 1000).toFixed(1) + " ms");
    cell(row, duration(w.heartbeat_age), w.heartbeat_age > 3 ? "late" : "");
    cell(row, duration(w.last_request_age));
    cell(row, w.restarts ? w.restarts + " (" + w.restart_cause + ")" : "0");
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function drawEvents(events) {
  const list = document.getElementById("events");
  const items = events.map((e) => {
    const li = document.createElement("li");
    li.className = e.level;
    const time = document.createElement("time");
    time.textContent = e.time;
    li.appendChild(time);
    li.appendChild(document.createTextNode(e.message));
    return li;
  });
  list.replaceChildren(...items);
}

function draw(data) {
  text("description", data.description);
  text("state", data.master.state);
  text("ready", String(data.master.ready));
  text("generation", String(data.master.generation));
  text("requests", String(data.totals.requests));
  text("rate", data.totals.rate.toFixed(1));
  const s = data.totals.statuses;
  text("statuses", [s["2xx"], s["3xx"], s["4xx"], s["5xx"]].join(" / "));
  const restarts = Object.entries(data.totals.restarts).filter(([, n]) => n > 0);
  text("restarts", restarts.length ? restarts.map(([k, n]) => k + " " + n).join(", ") : "0");
  text("uptime", duration(data.master.uptime));
  drawWorkers(data.workers);
  drawEvents(data.events);
}

async function refresh() {
  const status = document.getElementById("connection");
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    draw(await response.json());
    status.textContent = "live · updated " + new Date().toLocaleTimeString();
    status.className = "live";
  } catch (error) {
    status.textContent = "cannot reach the master (" + error.message + ")";
    status.className = "stale";
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

document.addEventListener("DOMContentLoaded", refresh);
