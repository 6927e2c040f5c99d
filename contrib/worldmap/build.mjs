// Builds the status page's world map and the country centroids from Natural Earth data, as
// packaged by world-atlas (TopoJSON; ISC licence; Natural Earth is public domain).
//
//   cd contrib/worldmap && npm install && node build.mjs   (exact versions: package.json)
//
// Writes, relative to the repository root:
//   assets/world.json       country outlines (1:110m) as SVG path data, equirectangular
//                           projection, integer coordinates, keyed by ISO 3166-1 alpha-2
//   src/geo/centroids.rs    one representative point per country (1:50m): the area centroid
//                           of the country's largest polygon (so France is metropolitan France
//                           and the United States the contiguous states)
//
// The output is deterministic: running it again gives the same files.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { feature } from "topojson-client";
import countries from "i18n-iso-countries";

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const atlas110 = require("world-atlas/countries-110m.json");
const atlas50 = require("world-atlas/countries-50m.json");
const atlasPkg = require("world-atlas/package.json");

// Natural Earth features without an ISO numeric code: the code a GeoIP database gives
// their addresses (null: left out).
const UNNAMED = {
  "N. Cyprus": "CY",
  "Somaliland": "SO",
  "Kosovo": "XK",
  "Indian Ocean Ter.": null,
  "Siachen Glacier": null,
};

function alpha2(f) {
  if (f.id === undefined) {
    const name = f.properties.name;
    if (!(name in UNNAMED)) throw new Error(`no code for ${name}`);
    return UNNAMED[name];
  }
  const a2 = countries.numericToAlpha2(f.id);
  if (!a2) throw new Error(`no alpha-2 for ${f.id} ${f.properties.name}`);
  return a2;
}

// The projection: equirectangular, 1000 units for 360° of longitude, latitudes 84°N to 58°S
// (Antarctica, and nothing steered there, is left out).
const WIDTH = 1000;
const K = WIDTH / 360;
const TOP = 84;
const BOTTOM = -58;
const HEIGHT = Math.round((TOP - BOTTOM) * K);
const project = ([lon, lat]) => [
  Math.round((lon + 180) * K),
  Math.round((TOP - Math.max(BOTTOM, Math.min(TOP, lat))) * K),
];

function polygons(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

// One ring as compact path data: absolute move, then relative lines, consecutive duplicates
// (after rounding) dropped; rings that collapse to fewer than 3 points are left out.
function ringPath(ring) {
  const pts = [];
  for (const p of ring) {
    const q = project(p);
    const last = pts[pts.length - 1];
    if (!last || last[0] !== q[0] || last[1] !== q[1]) pts.push(q);
  }
  if (pts.length > 1 && pts[0][0] === pts.at(-1)[0] && pts[0][1] === pts.at(-1)[1]) pts.pop();
  if (pts.length < 3) return "";
  let d = `M${pts[0][0]} ${pts[0][1]}`;
  let cmd = "";
  for (let i = 1; i < pts.length; i++) {
    const dx = pts[i][0] - pts[i - 1][0];
    const dy = pts[i][1] - pts[i - 1][1];
    const sep = cmd === "l" ? (dx < 0 ? "" : " ") : "l";
    cmd = "l";
    d += `${sep}${dx}${dy < 0 ? "" : " "}${dy}`;
  }
  return d + "z";
}

// Shoelace area and centroid of a ring in degrees (planar: good enough to pick the largest
// polygon and to place a point inside a country).
function ringCentroid(ring) {
  let a = 0, cx = 0, cy = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [x0, y0] = ring[j], [x1, y1] = ring[i];
    const f = x0 * y1 - x1 * y0;
    a += f;
    cx += (x0 + x1) * f;
    cy += (y0 + y1) * f;
  }
  a /= 2;
  if (a === 0) return { area: 0, lon: ring[0][0], lat: ring[0][1] };
  return { area: Math.abs(a), lon: cx / (6 * a), lat: cy / (6 * a) };
}

// A ring that crosses the antimeridian (Russia's Chukotka, Fiji) jumps from +180 to -180:
// drawn as it is, it would cut across the whole map. Such a ring is drawn twice, once with
// its western points moved east (and clamped to +180), once with its eastern points moved
// west (clamped to -180): each copy lies on one side of the map.
const crosses = (ring) => ring.some((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180);
const eastern = (ring) => ring.map(([x, y]) => [Math.min(180, x < 0 ? x + 360 : x), y]);
const western = (ring) => ring.map(([x, y]) => [Math.max(-180, x > 0 ? x - 360 : x), y]);
const drawRings = (ring) => (crosses(ring) ? [eastern(ring), western(ring)] : [ring]);

// --- Shapes (1:110m) -----------------------------------------------------------------------
const shapes = new Map();
const names = new Map();
for (const f of feature(atlas110, atlas110.objects.countries).features) {
  const id = alpha2(f);
  if (!id || id === "AQ") continue;
  const d = polygons(f.geometry)
    .map((poly) => poly.flatMap(drawRings).map(ringPath).join(""))
    .join("");
  if (!d) continue;
  shapes.set(id, (shapes.get(id) || "") + d);
  if (!names.has(id) || f.id !== undefined) names.set(id, f.properties.name);
}

// --- Centroids (1:50m) ---------------------------------------------------------------------
const centroids = new Map();
for (const f of feature(atlas50, atlas50.objects.countries).features) {
  const id = alpha2(f);
  if (!id) continue;
  let best = null;
  for (const poly of polygons(f.geometry)) {
    // Measured on one side of the antimeridian (see drawRings), then brought back.
    const outer = crosses(poly[0]) ? poly[0].map(([x, y]) => [x < 0 ? x + 360 : x, y]) : poly[0];
    const c = ringCentroid(outer);
    if (c.lon > 180) c.lon -= 360;
    if (!best || c.area > best.area) best = c;
  }
  if (!best) continue;
  const held = centroids.get(id);
  if (!held || best.area > held.area) centroids.set(id, best);
  if (!names.has(id) && f.id !== undefined) names.set(id, f.properties.name);
}

const round = (x, n) => Number(x.toFixed(n));
const ids = [...new Set([...shapes.keys(), ...centroids.keys()])].sort();
const world = {
  source: `Natural Earth 1:110m (shapes) and 1:50m (small countries as points), via world-atlas ${atlasPkg.version} (ISC); built by contrib/worldmap/build.mjs`,
  projection: { kind: "equirectangular", width: WIDTH, height: HEIGHT, top: TOP, bottom: BOTTOM },
  countries: ids.map((id) => {
    const c = centroids.get(id);
    const out = { id, name: names.get(id) };
    if (shapes.has(id)) out.d = shapes.get(id);
    else if (c) out.at = project([c.lon, c.lat]);
    return out;
  }),
};
writeFileSync(join(root, "assets", "world.json"), JSON.stringify(world) + "\n");

let rs = `//! A representative point of each country: the area centroid of its largest polygon in
//! Natural Earth's 1:50m countries (via world-atlas, ISC). Generated by
//! contrib/worldmap/build.mjs; do not edit by hand.

// Coordinates, not approximations of constants (Tanzania's latitude is close to τ).
#![allow(clippy::approx_constant)]

/// \`(ISO 3166-1 alpha-2, latitude, longitude)\`, sorted by code.
pub const CENTROIDS: &[(&str, f64, f64)] = &[
`;
for (const id of [...centroids.keys()].sort()) {
  const c = centroids.get(id);
  rs += `    ("${id}", ${round(c.lat, 2).toFixed(2)}, ${round(c.lon, 2).toFixed(2)}),\n`;
}
rs += `];

/// The representative point of \`country\` (alpha-2, upper case), if Natural Earth has it.
pub fn centroid(country: &str) -> Option<(f64, f64)> {
    CENTROIDS
        .binary_search_by(|row| row.0.cmp(country))
        .ok()
        .map(|i| (CENTROIDS[i].1, CENTROIDS[i].2))
}
`;
writeFileSync(join(root, "src", "geo", "centroids.rs"), rs);

const size = readFileSync(join(root, "assets", "world.json")).length;
console.log(`assets/world.json: ${world.countries.length} countries, ${size} bytes`);
console.log(`src/geo/centroids.rs: ${centroids.size} centroids`);
