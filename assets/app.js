// geosteer status page: reads /v1/status and /v1/map every few seconds and draws them.
// Plain DOM code, no framework; text is always set with textContent (never parsed as HTML).
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const TOKEN_KEY = "geosteer-token";
  // Okabe–Ito: told apart by people with the common colour-vision deficiencies.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#7F3C8D"];
  const NODATA = "#3d3d3d";
  const SEVERAL = "url(#several)";
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  let world = null;
  let status = null;
  let selectedLb = null;
  let recordType = "A";
  let colours = new Map();
  let timer = null;
  // Each refresh takes the next number; one that finds a newer refresh started while it
  // waited draws nothing and sets no timer (the newer one does both). Without this, a
  // refresh started by a drain button could be overdrawn by an older one still waiting for
  // the status, and every overlap left one more timer chain running.
  let refreshSeq = 0;

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function svg(tag, attrs = {}) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  function announce(text) {
    const a = $("announce");
    a.textContent = "";
    setTimeout(() => { a.textContent = text; }, 50);
  }

  function showError(text) {
    const e = $("error");
    e.textContent = text;
    e.hidden = false;
  }

  function hideError() {
    $("error").hidden = true;
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) {
      let msg = `${r.status}`;
      try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new Error(`${url}: ${msg}`);
    }
    return r.json();
  }

  function ago(seconds) {
    const s = Math.max(0, Date.now() / 1000 - seconds);
    if (s < 90) return `${Math.round(s)} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  }

  function colour(pool) {
    return colours.get(pool) || NODATA;
  }

  function assignColours() {
    const names = [...new Set(status.pools.map((p) => p.name))].sort();
    colours = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]]));
  }

  function swatch(fill) {
    const s = el("span", { class: "swatch", "aria-hidden": "true" });
    if (fill === SEVERAL) s.style.background = "repeating-linear-gradient(45deg,#8c8c8c 0 4px,#d9d9d9 4px 8px)";
    else s.style.background = fill;
    return s;
  }

  function stateBadge(kind, text) {
    return el("span", { class: `state state-${kind}`, text });
  }

  const OUTCOME_TEXT = {
    steered: "",
    fallback: "every pool down: fallback pool",
    all_down_ignoring_health: "every pool down: health ignored",
    nodata: "no answer (NODATA)",
  };

  // --- Header ---------------------------------------------------------------------------
  function renderSummary() {
    const geo = status.geoip ? `GeoIP ${status.geoip.database_type}` : "no GeoIP database";
    const time = new Date().toLocaleTimeString();
    $("summary").textContent =
      `Instance ${status.instance} · configuration generation ${status.generation} · ` +
      `zones ${status.zones.join(", ")} · ${geo} · ${status.ready ? "ready" : "starting"} · updated ${time}`;
  }

  function renderToken() {
    const has = !!token();
    $("token-form").hidden = has;
    $("token-set").hidden = !has;
  }

  // --- Load balancers -------------------------------------------------------------------
  function poolNames(list, note) {
    const span = el("span");
    if (!list.length) span.append(el("span", { text: "none" }));
    list.forEach((p, i) => {
      if (i) span.append(", ");
      span.append(swatch(colour(p)), el("span", { text: p }));
    });
    if (note) span.append(el("span", { class: "when", text: ` (${note})` }));
    return span;
  }

  function renderLbs() {
    const body = $("lbs").tBodies[0];
    body.replaceChildren(
      ...status.load_balancers.map((lb) => {
        const a = lb.active || { pools: [], outcome: "nodata" };
        const note = [a.pools.length > 1 ? "random" : "", OUTCOME_TEXT[a.outcome]].filter(Boolean).join("; ");
        return el(
          "tr",
          { dataset: { lb: lb.name } },
          el("th", { scope: "row", text: lb.name }),
          el("td", { text: lb.steering }),
          el("td", { class: "answering", dataset: { outcome: a.outcome } }, poolNames(a.pools, note)),
          el("td", {}, lb.default_pools.map((p, i) => [i ? " → " : "", el("span", { class: "nobr", text: p })])),
          el("td", { text: lb.fallback_pool }),
          el("td", { text: `${lb.ttl} s` }),
        );
      }),
    );
  }

  // --- Pools ----------------------------------------------------------------------------
  async function act(path, what) {
    const t = token();
    if (!t) return;
    try {
      const r = await fetch(path, { method: "POST", headers: { Authorization: `Bearer ${t}` } });
      let body = {};
      try { body = await r.json(); } catch (_) { /* empty */ }
      if (!r.ok) {
        if (r.status === 401 || r.status === 403) {
          sessionStorage.removeItem(TOKEN_KEY);
          renderToken();
        }
        throw new Error(body.error || `${r.status}`);
      }
      announce(`${what}: done.`);
    } catch (e) {
      showError(`${what} failed: ${e.message}`);
      announce(`${what} failed: ${e.message}`);
    }
    await refresh();
  }

  function drainButton(kind, drained, label, path, zone, key) {
    const verb = drained ? "Enable" : "Drain";
    const url = `${path}/${drained ? "enable" : "disable"}?zone=${encodeURIComponent(zone)}`;
    return el("button", {
      type: "button",
      class: drained ? "secondary" : "danger",
      dataset: { key },
      "aria-label": `${verb} ${kind} ${label}`,
      text: verb,
      on: { click: () => act(url, `${verb} ${kind} ${label}`) },
    });
  }

  // "by ns1, 3 min ago" for a drain decision recorded in the drain store.
  function drainNote(zone, pool, address) {
    const d = (status.drains || []).find((e) => e.drained && e.zone === zone && e.pool === pool && (e.origin || null) === address);
    return d ? ` by ${d.by}, ${ago(d.at_ms / 1000)}` : "";
  }

  function originState(o) {
    if (!o.enabled) return ["disabled", "DISABLED"];
    if (o.drained) return ["drained", "DRAINED"];
    return o.up ? ["up", "UP"] : ["down", "DOWN"];
  }

  function renderPools() {
    const admin = !!token();
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    const out = status.pools.map((p) => {
      const base = `/v1/pools/${encodeURIComponent(p.name)}`;
      let kind, text;
      if (!p.enabled) [kind, text] = ["disabled", "DISABLED"];
      else if (p.drained) [kind, text] = ["drained", "DRAINED"];
      else [kind, text] = p.up ? ["up", "UP"] : ["down", "DOWN"];
      const meta = `${p.healthy_origins}/${p.origins.length} origins healthy, minimum ${p.minimum_origins}` +
        (p.monitor ? `, monitor ${p.monitor}` : ", not monitored") + `, zone ${p.zone}`;
      const heading = el(
        "h3",
        {},
        swatch(colour(p.name)),
        el("span", { class: "pool-name", text: p.name }),
        stateBadge(kind, text),
        p.drained ? el("span", { class: "when", text: drainNote(p.zone, p.name, null).trim() }) : null,
        el("span", { class: "meta", text: meta }),
        admin ? drainButton("pool", p.drained, p.name, base, p.zone, `pool:${p.zone}:${p.name}`) : null,
      );
      const rows = p.origins.map((o) => {
        const [k, t] = originState(o);
        const last = o.last_probe;
        const probe = !o.monitor
          ? "not monitored"
          : last
            ? `${last.result} (${last.attempts} attempt${last.attempts === 1 ? "" : "s"}) · ${ago(last.at)}`
            : "not probed yet";
        const addr = o.addresses[0];
        const path = `${base}/origins/${encodeURIComponent(addr)}`;
        return el(
          "tr",
          { dataset: { origin: addr } },
          el("th", { scope: "row", text: o.name }),
          el("td", { text: o.addresses.join(", ") }),
          el(
            "td",
            {},
            stateBadge(k, t),
            o.drained ? el("span", { class: "when", text: drainNote(p.zone, p.name, addr) }) : null,
            o.pool_drained ? el("span", { class: "when", text: " (pool drained)" }) : null,
          ),
          el("td", { text: probe }),
          el("td", { text: o.rtt_ms == null || !o.up ? "–" : `${o.rtt_ms.toFixed(1)} ms` }),
          el("td", { text: String(o.weight) }),
          admin ? el("td", {}, drainButton("origin", o.drained, `${o.name} in pool ${p.name}`, path, p.zone, `origin:${p.zone}:${p.name}:${addr}`)) : null,
        );
      });
      const head = ["Origin", "Addresses", "State", "Last probe", "RTT", "Weight"];
      if (admin) head.push("Action");
      const table = el(
        "table",
        {},
        el("caption", { text: `Origins of pool ${p.name}` }),
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows),
      );
      return el("div", { class: "pool", dataset: { pool: p.name, zone: p.zone, state: kind } }, heading, table);
    });
    $("pools").replaceChildren(...out);
    if (focused) {
      const again = document.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  // --- Map ------------------------------------------------------------------------------
  function project(lat, lon) {
    const p = world.projection;
    const k = p.width / 360;
    return [(lon + 180) * k, (p.top - lat) * k];
  }

  function drawWorld() {
    const g = $("countries");
    for (const c of world.countries) {
      let shape;
      if (c.d) shape = svg("path", { d: c.d });
      else shape = svg("circle", { cx: c.at[0], cy: c.at[1], r: 2.2 });
      shape.setAttribute("class", "country unknown");
      shape.dataset.cc = c.id;
      shape.dataset.name = c.name;
      const title = svg("title");
      title.textContent = `${c.name} (${c.id})`;
      shape.append(title);
      g.append(shape);
    }
  }

  function ensureLbSelect() {
    const sel = $("lb-select");
    const names = status.load_balancers.map((l) => l.name);
    const have = [...sel.options].map((o) => o.value);
    if (names.join("\n") !== have.join("\n")) {
      sel.replaceChildren(...status.load_balancers.map((l) => el("option", { value: l.name, text: `${l.name} (${l.steering})` })));
    }
    if (!selectedLb || !names.includes(selectedLb)) {
      const located = status.load_balancers.find((l) => l.steering === "geo" || l.steering === "proximity");
      selectedLb = (located || status.load_balancers[0] || {}).name || null;
    }
    if (selectedLb) sel.value = selectedLb;
  }

  function answerText(a) {
    if (!a || !a.pools.length) return "no answer (NODATA)";
    const pools = a.pools.length > 1 ? `random among ${a.pools.join(", ")}` : a.pools[0];
    const how = OUTCOME_TEXT[a.outcome];
    return how ? `${pools} (${how})` : pools;
  }

  function rulesText(a) {
    if (!a || !a.rules || !a.rules.length) return "";
    return `rules ${a.rules.join(", ")}`;
  }

  function fillOf(a) {
    if (!a || !a.pools.length) return NODATA;
    return a.pools.length > 1 ? SEVERAL : colour(a.pools[0]);
  }

  function renderMap(map) {
    const used = new Set();
    for (const shape of $("countries").children) {
      const a = map.countries[shape.dataset.cc];
      if (!a) continue;
      const fill = fillOf(a);
      used.add(a.pools.length > 1 ? "several" : a.pools.length ? a.pools[0] : "nodata");
      shape.setAttribute("fill", fill);
      shape.setAttribute("class", "country steered");
      shape.dataset.pool = a.pools.join(",");
      shape.firstChild.textContent = `${shape.dataset.name} (${shape.dataset.cc}): ${answerText(a)}`;
    }
    const markers = $("markers");
    markers.replaceChildren(
      ...map.pools
        .filter((p) => p.latitude != null && p.longitude != null)
        .map((p) => {
          const [x, y] = project(p.latitude, p.longitude);
          const g = svg("g", { class: `marker${p.up ? "" : " down"}` });
          g.dataset.pool = p.name;
          const c = svg("circle", { cx: x, cy: y, r: 8, fill: "#ffffff" });
          const dot = svg("circle", { cx: x, cy: y, r: 4.5, fill: colour(p.name), class: "dot" });
          // Labels near the right edge go to the left of their marker.
          const right = x > world.projection.width - 160;
          const t = svg("text", { x: right ? x - 10 : x + 10, y: y + 4, "text-anchor": right ? "end" : "start" });
          t.textContent = p.up ? p.name : `${p.name} (down)`;
          const title = svg("title");
          title.textContent = `Pool ${p.name}: ${p.up ? "up" : "DOWN"}, ${p.healthy_origins}/${p.origins} origins healthy`;
          g.append(title, c, dot, t);
          return g;
        }),
    );
    const legend = map.pools.map((p) =>
      el("li", {}, swatch(colour(p.name)), el("span", { text: `${p.name}${p.up ? "" : " (down)"}` })));
    if (used.has("several")) legend.push(el("li", {}, swatch(SEVERAL), el("span", { text: "several pools (random)" })));
    if (used.has("nodata")) legend.push(el("li", {}, swatch(NODATA), el("span", { text: "no answer (NODATA)" })));
    legend.push(el("li", {}, swatch("#cfd4da"), el("span", { text: "not in the tables" })));
    $("legend").replaceChildren(...legend);
    $("map-note").textContent =
      `${map.load_balancer} (${map.steering}), ${map.type} queries. Clients of unknown location: ${answerText(map.unknown_location)}. ` +
      "Countries are placed at country level (subdivision rules do not apply on the map)" +
      ((map.variants || []).length ? "; custom rules as for a client in no network or AS they name." : ".");
    const rows = world.countries
      .filter((c) => map.countries[c.id])
      .concat(Object.keys(map.countries).filter((cc) => !world.countries.some((c) => c.id === cc)).map((cc) => ({ id: cc, name: cc })))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((c) => {
        const a = map.countries[c.id];
        return el(
          "tr",
          { dataset: { cc: c.id } },
          el("th", { scope: "row", text: c.name }),
          el("td", { text: c.id }),
          el("td", {}, poolNames(a.pools, a.pools.length > 1 ? "random" : "")),
          el("td", { text: [rulesText(a), a.rule, OUTCOME_TEXT[a.outcome]].filter(Boolean).join("; ") }),
        );
      });
    $("countries-table").tBodies[0].replaceChildren(...rows);
    const variants = map.variants || [];
    $("variants-details").hidden = variants.length === 0;
    $("variants-table").tBodies[0].replaceChildren(
      ...variants.map((v) =>
        el(
          "tr",
          {},
          el("th", { scope: "row", text: v.when }),
          el("td", { text: v.steering }),
          el("td", {}, poolNames(v.default_pools, "")),
          el("td", { text: v.fallback_pool }),
          el("td", { text: String(v.ttl) }),
        )),
    );
  }

  // --- Refresh loop ---------------------------------------------------------------------
  async function refresh() {
    clearTimeout(timer);
    const mine = ++refreshSeq;
    const superseded = () => mine !== refreshSeq;
    try {
      if (!world) {
        const w = await getJSON("/assets/world.json");
        if (!world) {
          world = w;
          drawWorld();
        }
      }
      const fresh = await getJSON("/v1/status");
      if (superseded()) return;
      status = fresh;
      assignColours();
      renderSummary();
      renderToken();
      renderLbs();
      renderPools();
      ensureLbSelect();
      if (selectedLb) {
        const map = await getJSON(`/v1/map?lb=${encodeURIComponent(selectedLb)}&type=${recordType}`);
        if (superseded()) return;
        renderMap(map);
      }
      hideError();
      document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
    } catch (e) {
      if (superseded()) return;
      showError(`Cannot load the status: ${e.message}. Retrying every ${REFRESH_MS / 1000} s.`);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token").value.trim();
      if (!v) return;
      sessionStorage.setItem(TOKEN_KEY, v);
      $("token").value = "";
      announce("Token kept for this tab: drain and enable buttons are shown.");
      // Focus moves now, not when the refresh ends: the buttons the refresh draws may be
      // in use by then (a slow /v1/map must not pull focus off a button being pressed).
      renderToken();
      $("token-forget").focus();
      refresh();
    });
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      announce("Token forgotten: the page is read-only.");
      renderToken();
      $("token").focus();
      refresh();
    });
    $("lb-select").addEventListener("change", (ev) => {
      selectedLb = ev.target.value;
      refresh();
    });
    $("type-select").addEventListener("change", (ev) => {
      recordType = ev.target.value;
      refresh();
    });
    renderToken();
    refresh();
  });
})();
