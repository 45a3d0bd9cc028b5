// The world map: an SVG in an equirectangular projection (one user unit per
// degree), drawn from the embedded outline in world.js, with a marker where
// each session was last active and faint dots where its activity was before.

import { LAND } from "./world.js";

const SVG_NS = "http://www.w3.org/2000/svg";

// project turns a latitude and longitude (strings or numbers, as the API
// sends them) into map coordinates; null when either is missing or absurd.
export function project(lat, lon) {
  const la = Number.parseFloat(lat);
  const lo = Number.parseFloat(lon);
  if (!Number.isFinite(la) || !Number.isFinite(lo) || Math.abs(la) > 90 || Math.abs(lo) > 180) {
    return null;
  }
  return { x: lo + 180, y: 90 - la };
}

function el(name, attrs = {}) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// WorldMap owns the map's marker layers. onPick(sessionId) is called when a
// marker is clicked or focused, so the table can follow; onTrails(shown)
// when trails appear or go, so the legend can follow.
export class WorldMap {
  constructor(svg, onPick, onTrails = () => {}) {
    this.onTrails = onTrails;
    this.svg = svg;
    this.markers = svg.querySelector("#markers");
    this.trails = svg.querySelector("#trails");
    this.onPick = onPick;
    svg.querySelector("#land").setAttribute("d", LAND);
    this.byId = new Map();
  }

  // setSessions draws one marker per session that has a location and
  // returns how many sessions had none. Each item is {id, label, point}.
  setSessions(items) {
    this.markers.replaceChildren();
    this.trails.replaceChildren();
    this.onTrails(false);
    this.byId.clear();
    let unplaced = 0;
    for (const item of items) {
      if (!item.point) {
        unplaced++;
        continue;
      }
      // A marker is a focusable button of its own, so keyboard users reach
      // the sessions from the map just as mouse users do.
      const g = el("g", {
        class: "marker",
        tabindex: "0",
        role: "button",
        "aria-label": item.label,
        "data-session-id": item.id,
        transform: `translate(${item.point.x} ${item.point.y})`,
      });
      const title = el("title");
      title.textContent = item.label;
      g.append(el("circle", { class: "marker-halo", r: "5" }), el("circle", { class: "marker-dot", r: "2.2" }), title);
      const pick = () => this.onPick(item.id, { fromMap: true });
      g.addEventListener("click", pick);
      g.addEventListener("focus", () => this.onPick(item.id, { fromMap: true, focusOnly: true }));
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          pick();
        }
      });
      this.markers.append(g);
      this.byId.set(item.id, g);
    }
    return unplaced;
  }

  // addTrail draws a session's earlier places, faint, joined to where it
  // is now. They are decoration for sighted users: the table names the
  // current place, so the dots stay out of the accessibility tree.
  addTrail(sessionId, points, current) {
    if (!points.length) return;
    const g = el("g", { class: "trail", "data-session-id": sessionId, "aria-hidden": "true" });
    const line = [...points, ...(current ? [current] : [])];
    if (line.length > 1) {
      g.append(el("polyline", { class: "trail-line", points: line.map((p) => `${p.x},${p.y}`).join(" ") }));
    }
    for (const p of points) g.append(el("circle", { class: "trail-dot", cx: p.x, cy: p.y, r: "1.6" }));
    this.trails.append(g);
    this.onTrails(true);
  }

  // select highlights the session's marker and trail, and raises the
  // marker above its neighbours (SVG paints in document order).
  select(sessionId) {
    for (const g of this.svg.querySelectorAll(".selected")) g.classList.remove("selected");
    for (const g of this.svg.querySelectorAll(`[data-session-id="${CSS.escape(sessionId ?? "")}"]`)) {
      g.classList.add("selected");
    }
    const m = this.byId.get(sessionId);
    if (m && m !== this.markers.lastChild && document.activeElement !== m) this.markers.append(m);
  }
}
