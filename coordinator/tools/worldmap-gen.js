#!/usr/bin/env node
/* Regenerates coordinator/worldmap.h: the land outline of the status page as
 * ONE compact SVG path in an equirectangular projection. Only for
 * regenerating the data; the build never runs it (the header is in the tree).
 *
 * Source: Natural Earth 1:110m land (public domain) as packaged by the npm
 * package world-atlas (ISC licence), read with topojson-client.
 *
 *   mkdir -p /tmp/worldmap && cd /tmp/worldmap
 *   npm install world-atlas@2.0.2 topojson-client@3.1.0
 *   NODE_PATH=/tmp/worldmap/node_modules node coordinator/tools/worldmap-gen.js \
 *       > coordinator/worldmap.h
 *
 * Coordinates: x = (lon + 180) * SCALE, y = (90 - lat) * SCALE, integers, so
 * the path's viewBox is "0 0 360*SCALE 180*SCALE".
 *
 * The antimeridian: world-atlas merges land across +-180 (Chukotka, Fiji,
 * Antarctica), so a ring can jump from -180 to 180 and a naive path would
 * draw a stripe across the map. Each ring is unwrapped (longitudes made
 * continuous), a ring that goes round a pole (Antarctica) is closed along
 * that pole, then the ring and its copies shifted by +-360 are clipped to
 * [-180, 180]. */
'use strict';
const SCALE = 4;          /* 1/4 degree per unit */
const TOLERANCE = 0.1;    /* Douglas-Peucker, degrees */
const MIN_AREA = 0.15;    /* square degrees: smaller islands are dropped */

const topo = require('world-atlas/land-110m.json');
const tc = require('topojson-client');
const atlasVersion = require('world-atlas/package.json').version;
const tcVersion = require('topojson-client/package.json').version;

function unwrap(ring) {
  const out = [[ring[0][0], ring[0][1]]];
  let shift = 0;
  for (let i = 1; i < ring.length; i++) {
    const d = ring[i][0] + shift - out[i - 1][0];
    if (d > 180) shift -= 360;
    else if (d < -180) shift += 360;
    out.push([ring[i][0] + shift, ring[i][1]]);
  }
  const net = out[out.length - 1][0] - out[0][0];
  if (Math.abs(net) > 180) {
    /* Goes round a pole: close it along the pole on its side. */
    const meanLat = out.reduce((s, p) => s + p[1], 0) / out.length;
    const poleLat = meanLat < 0 ? -90 : 90;
    out.push([out[out.length - 1][0], poleLat]);
    out.push([out[0][0], poleLat]);
    out.push([out[0][0], out[0][1]]);
  }
  return out;
}

/* Sutherland-Hodgman against one vertical half-plane. */
function clipX(ring, x0, keepGreater) {
  const inside = p => (keepGreater ? p[0] >= x0 : p[0] <= x0);
  const out = [];
  for (let i = 0; i < ring.length; i++) {
    const a = ring[i], b = ring[(i + 1) % ring.length];
    const ia = inside(a), ib = inside(b);
    if (ia) out.push(a);
    if (ia !== ib) {
      const t = (x0 - a[0]) / (b[0] - a[0]);
      out.push([x0, a[1] + t * (b[1] - a[1])]);
    }
  }
  return out;
}

function perpDist(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = Math.hypot(dx, dy);
  if (len === 0) return Math.hypot(p[0] - a[0], p[1] - a[1]);
  return Math.abs(dx * (a[1] - p[1]) - dy * (a[0] - p[0])) / len;
}

function simplify(pts, tol) {
  if (pts.length < 4) return pts;
  const keep = new Uint8Array(pts.length);
  keep[0] = keep[pts.length - 1] = 1;
  const stack = [[0, pts.length - 1]];
  while (stack.length) {
    const [s, e] = stack.pop();
    let best = -1, bi = -1;
    for (let i = s + 1; i < e; i++) {
      const d = perpDist(pts[i], pts[s], pts[e]);
      if (d > best) { best = d; bi = i; }
    }
    if (best > tol) { keep[bi] = 1; stack.push([s, bi], [bi, e]); }
  }
  return pts.filter((_, i) => keep[i]);
}

function area(r) {
  let a = 0;
  for (let i = 0; i < r.length; i++) {
    const p = r[i], q = r[(i + 1) % r.length];
    a += p[0] * q[1] - q[0] * p[1];
  }
  return Math.abs(a) / 2;
}

const land = tc.feature(topo, topo.objects.land);
const geoms = land.type === 'FeatureCollection' ? land.features.map(f => f.geometry) : [land.geometry];
let d = '';
let rings = 0, points = 0;
for (const g of geoms) {
  const polys = g.type === 'MultiPolygon' ? g.coordinates : [g.coordinates];
  for (const poly of polys) {
    for (const raw of poly) {
      const u = simplify(unwrap(raw), TOLERANCE);
      for (const shift of [-360, 0, 360]) {
        let r = u.map(p => [p[0] + shift, p[1]]);
        r = clipX(clipX(r, -180, true), 180, false);
        if (r.length < 3 || area(r) < MIN_AREA) continue;
        /* Quantize, drop repeated points. */
        const q = [];
        for (const p of r) {
          const x = Math.round((p[0] + 180) * SCALE), y = Math.round((90 - p[1]) * SCALE);
          const last = q[q.length - 1];
          if (!last || last[0] !== x || last[1] !== y) q.push([x, y]);
        }
        if (q.length > 1 && q[0][0] === q[q.length - 1][0] && q[0][1] === q[q.length - 1][1]) q.pop();
        if (q.length < 3) continue;
        let s = 'M' + q[0][0] + ' ' + q[0][1] + 'l';
        for (let i = 1; i < q.length; i++) {
          const dx = q[i][0] - q[i - 1][0], dy = q[i][1] - q[i - 1][1];
          s += (i > 1 && dx >= 0 ? ' ' : '') + dx + (dy >= 0 ? ' ' : '') + dy;
        }
        d += s + 'z';
        rings++;
        points += q.length;
      }
    }
  }
}

const lines = [];
for (let i = 0; i < d.length; i += 100) lines.push('    "' + d.slice(i, i + 100) + '"');
process.stdout.write(`/* GENERATED by coordinator/tools/worldmap-gen.js; do not edit.
 *
 * The land outline of the status page: one SVG path, equirectangular,
 * x = (lon + 180) * VTG_WORLDMAP_SCALE, y = (90 - lat) * VTG_WORLDMAP_SCALE,
 * rings crossing the antimeridian clipped at +-180.
 * ${rings} rings, ${points} points, ${d.length} bytes.
 *
 * Source: Natural Earth 1:110m land, public domain (naturalearthdata.com),
 * from the npm package world-atlas ${atlasVersion} (ISC licence, land-110m.json),
 * read with topojson-client ${tcVersion} (ISC licence).
 * Simplified (Douglas-Peucker ${TOLERANCE} degrees), islands under ${MIN_AREA} square
 * degrees dropped, rounded to 1/${SCALE} degree.
 *
 * Command (outside the build; the build never runs it):
 *   mkdir -p /tmp/worldmap && cd /tmp/worldmap
 *   npm install world-atlas@${atlasVersion} topojson-client@${tcVersion}
 *   NODE_PATH=/tmp/worldmap/node_modules node coordinator/tools/worldmap-gen.js \\
 *       > coordinator/worldmap.h
 */
#ifndef VTG_WORLDMAP_H
#define VTG_WORLDMAP_H

#define VTG_WORLDMAP_SCALE ${SCALE}
#define VTG_WORLDMAP_WIDTH ${360 * SCALE}
#define VTG_WORLDMAP_HEIGHT ${180 * SCALE}

static const char vtg_worldmap_path[] =
${lines.join('\n')};

#endif
`);
