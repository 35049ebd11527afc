// The grpc-ha dashboard: a live view of /api/events (server-sent events). No build step; uPlot
// draws the charts. The stream sends a `snapshot` on connect (the page resets from it, so a
// restarted server or a reconnect leaves no stale state; it carries the last two minutes of ticks,
// so the first paint shows current rates), an `event` per state change and a `tick` per second
// with every endpoint's traffic, share, p50/p99 and condition.
(function () {
  'use strict';
  const WINDOW = 120; // seconds of history per chart
  const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f778ba', '#a371f7', '#39c5cf', '#ff7b72', '#e3b341', '#7ee787', '#79c0ff'];
  const token = new URLSearchParams(location.search).get('token');
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  document.getElementById('metrics-link').href = `metrics${q}`;
  document.getElementById('state-link').href = `api/state${q}`;

  /** service → { el, policy, endpoints: Map(endpoint → details), colors, times, series, charts } */
  const services = new Map();
  let ticks = 0;

  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  };
  const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
  const pad = (n) => String(n).padStart(2, '0');
  /** "2026-11-21 14:03:05", local time: a date with every time, so a screenshot or a log read later says when. */
  const stamp = (ms) => {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  };
  /** The badge of each endpoint condition (src/core/health/endpoint-condition.ts), and "gone" for one that left the list. */
  const BADGES = {
    healthy: 'healthy',
    ejected: 'ejected',
    not_serving: 'not serving',
    health_check_failing: 'health check failing',
    awaiting_health_check: 'connecting',
    connecting: 'connecting',
    transient_failure: 'unreachable',
    gone: 'gone',
  };

  function service(name) {
    let s = services.get(name);
    if (s) return s;
    document.getElementById('empty')?.remove();
    const root = el('section', { class: 'service', 'data-service': name });
    const title = el('h2', {}, name, el('span', { class: 'policy' }), el('span', { class: 'totals' }));
    const share = el('div', { class: 'chart share' }, el('h3', {}, 'traffic share per endpoint (%)'));
    const latency = el('div', { class: 'chart latency' }, el('h3', {}, 'p50 (solid) / p99 (dashed) per endpoint, ms'));
    const cards = el('div', { class: 'cards' });
    root.append(title, el('div', { class: 'charts' }, share, latency), cards);
    document.getElementById('services').append(root);
    s = { name, root, title, shareEl: share, latencyEl: latency, cards, endpoints: new Map(), order: [], times: [], share: new Map(), p50: new Map(), p99: new Map(), charts: null, live: new Map() };
    services.set(name, s);
    return s;
  }

  function colorOf(s, endpoint) {
    let i = s.order.indexOf(endpoint);
    if (i < 0) {
      s.order.push(endpoint);
      i = s.order.length - 1;
      for (const m of [s.share, s.p50, s.p99]) m.set(endpoint, s.times.map(() => null));
      rebuildCharts(s);
    }
    return COLORS[i % COLORS.length];
  }

  function rebuildCharts(s) {
    if (s.charts) for (const c of s.charts) c.destroy();
    const width = Math.max(260, Math.floor(s.shareEl.clientWidth || 420));
    const base = { width, height: 180, scales: { x: { time: true } }, legend: { show: true, live: false }, cursor: { show: false } };
    const axes = (unit) => [{ stroke: '#7d8a96', grid: { stroke: '#222c35' } }, { stroke: '#7d8a96', grid: { stroke: '#222c35' }, values: (u, vs) => vs.map((v) => v + unit) }];
    const color = (e) => COLORS[s.order.indexOf(e) % COLORS.length];
    const share = new uPlot(
      { ...base, axes: axes('%'), scales: { x: { time: true }, y: { range: [0, 100] } }, series: [{}, ...s.order.map((e) => ({ label: e, stroke: color(e), width: 2 }))] },
      shareData(s),
      s.shareEl,
    );
    const latency = new uPlot(
      {
        ...base,
        axes: axes(''),
        series: [{}, ...s.order.flatMap((e) => [{ label: `${e} p50`, stroke: color(e), width: 2 }, { label: `p99`, stroke: color(e), width: 1, dash: [5, 4] }])],
      },
      latencyData(s),
      s.latencyEl,
    );
    s.charts = [share, latency];
  }
  const shareData = (s) => [s.times, ...s.order.map((e) => s.share.get(e))];
  const latencyData = (s) => [s.times, ...s.order.flatMap((e) => [s.p50.get(e), s.p99.get(e)])];

  function card(s, endpoint) {
    let c = s.root.querySelector(`.card[data-endpoint="${CSS.escape(endpoint)}"]`);
    if (c) return c;
    c = el('div', { class: 'card', 'data-endpoint': endpoint });
    s.cards.append(c);
    return c;
  }

  /** The endpoint's condition from the newer of the last state and the last tick; "gone" once it left the list. */
  function conditionOf(d, live) {
    if (d.health === 'gone') return d;
    if (live.seenAt !== undefined && (d.seenAt === undefined || live.seenAt >= d.seenAt)) return live;
    return d.health ? d : { health: 'connecting' };
  }

  function renderCard(s, endpoint) {
    const d = s.endpoints.get(endpoint) || {};
    const live = d.health === 'gone' ? {} : s.live.get(endpoint) || {};
    const cond = conditionOf(d, live);
    const health = cond.health;
    const c = card(s, endpoint);
    c.className = `card h-${health}`;
    c.dataset.health = health;
    const rows = [
      ['calls/s', fmt(live.calls, 0)],
      ['share', live.share === undefined ? '–' : `${fmt(live.share * 100, 0)} %`],
      ['p50 / p99', `${fmt(live.p50)} / ${fmt(live.p99)} ms`],
      ['errors/s', fmt(live.errors, 0)],
      ['in flight', fmt(live.inFlight ?? d.inFlight, 0)],
      ['EWMA', d.ewmaMs === null || d.ewmaMs === undefined ? '–' : `${fmt(d.ewmaMs, 2)} ms`],
      ['weight', fmt(d.weight, 0)],
      ['connection', d.connectivity || '–'],
    ];
    const dl = el('dl');
    for (const [k, v] of rows) dl.append(el('dt', {}, k), el('dd', {}, v));
    const why = [];
    if (health === 'gone') why.push(`left the endpoint list at ${stamp(d.departedAt)} (deregistered, or removed by its registry)`);
    else if (cond.healthReason) why.push(cond.healthReason);
    if (health === 'ejected' && cond.ejectedUntil) why.push(`${Math.max(0, Math.round((cond.ejectedUntil - Date.now()) / 1000))} s left`);
    if (d.lastError && health !== 'healthy') why.push(`last error at ${stamp(d.lastError.at)}: ${d.lastError.details}`);
    c.replaceChildren(
      el('div', { class: 'addr' }, el('span', { class: 'swatch', style: `background:${colorOf(s, endpoint)}` }), endpoint, el('span', { class: 'badge' }, BADGES[health] || health.replace(/_/g, ' '))),
      dl,
      ...(why.length ? [el('div', { class: 'why' }, why.join(' · '))] : []),
    );
  }

  function applyState(state) {
    for (const ch of state.channels || []) {
      const s = service(ch.service);
      s.title.querySelector('.policy').textContent = `${ch.policy}${ch.panic ? ' · PANIC' : ''}`;
      const totals = s.title.querySelector('.totals');
      if (ch.calls) {
        totals.textContent = `${ch.calls.ok.toLocaleString()} ok · ${ch.calls.failed.toLocaleString()} failed · ${ch.calls.retried.toLocaleString()} retried`;
        Object.assign(totals.dataset, { ok: ch.calls.ok, failed: ch.calls.failed, retried: ch.calls.retried });
      }
      const present = new Set();
      for (const e of ch.endpoints) {
        present.add(e.endpoint);
        s.endpoints.set(e.endpoint, { ...e, seenAt: state.at });
        colorOf(s, e.endpoint);
        renderCard(s, e.endpoint);
      }
      // Gone from the server's list too (it keeps departed endpoints for a minute): drop the card.
      for (const endpoint of [...s.endpoints.keys()]) {
        if (present.has(endpoint)) continue;
        s.endpoints.delete(endpoint);
        s.live.delete(endpoint);
        s.root.querySelector(`.card[data-endpoint="${CSS.escape(endpoint)}"]`)?.remove();
      }
    }
    document.getElementById('proc').textContent = `pid ${state.pid} · ${stamp(state.at)}`;
    renderXds(state.xds || []);
  }

  /** A table of text (and nodes): `append` makes text nodes, so remote strings (node ids, NACK details) stay text. */
  function table(headings, rows) {
    return el(
      'table',
      { class: 'xds-table' },
      el('tr', {}, ...headings.map((h) => el('th', {}, h))),
      ...rows.map((r) => el('tr', {}, ...r.map((cell) => el('td', {}, cell)))),
    );
  }

  /** xDS control planes of the process: what they serve and who is connected (like CSDS). */
  function renderXds(planes) {
    const root = document.getElementById('xds');
    root.hidden = planes.length === 0;
    if (planes.length === 0) return;
    const empty = document.getElementById('empty');
    if (empty) empty.hidden = true;
    root.replaceChildren();
    for (const plane of planes) {
      const box = el('div', { class: 'service' }, el('h2', {}, `xDS control plane ${plane.address}`, el('span', { class: 'policy' }, plane.registry)));
      box.append(
        table(
          ['service', 'policies', 'endpoints (published)', 'notes'],
          plane.services.map((s) => {
            const counts = {};
            for (const e of s.endpoints) counts[e.published] = (counts[e.published] || 0) + 1;
            return [
              s.service,
              s.policies.join(' → '),
              Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none',
              [...s.notes, s.configRejected ? `config rejected: ${s.configRejected}` : ''].filter(Boolean).join('; '),
            ];
          }),
        ),
      );
      box.append(
        table(
          ['client (node id)', 'zone', 'user agent', 'subscriptions', 'versions sent / ACKed', 'NACKs'],
          plane.clients.map((c) => {
            const nacks = c.subscriptions.filter((s) => s.nacks > 0);
            const nackCell = el('span', nacks.length ? { class: 'why', title: nacks.map((s) => `${s.type}: ${s.lastNack ? s.lastNack.message : ''}`).join('\n') } : {}, nacks.length ? nacks.map((s) => `${s.type}: ${s.nacks}`).join(', ') : '0');
            return [
              c.nodeId || '(no node)',
              c.locality ? c.locality.zone : '',
              c.userAgent,
              c.subscriptions.map((s) => `${s.type}: ${s.names.join(', ')}`).join('; '),
              c.subscriptions.map((s) => `${s.type} ${s.sentVersion}/${s.ackedVersion || '-'}`).join(', '),
              nackCell,
            ];
          }),
        ),
      );
      root.append(box);
    }
  }

  function applyTick(tick) {
    ticks++;
    document.body.dataset.ticks = String(ticks);
    for (const st of tick.services) {
      const s = service(st.service);
      s.times.push(tick.at / 1000);
      const by = new Map(st.endpoints.map((e) => [e.endpoint, e]));
      for (const e of st.endpoints) colorOf(s, e.endpoint);
      for (const endpoint of s.order) {
        const e = by.get(endpoint);
        s.share.get(endpoint).push(e ? Math.round(e.share * 1000) / 10 : null);
        s.p50.get(endpoint).push(e ? e.p50 : null);
        s.p99.get(endpoint).push(e ? e.p99 : null);
        if (e) s.live.set(endpoint, { ...e, seenAt: tick.at });
      }
      if (s.times.length > WINDOW) {
        s.times.shift();
        for (const m of [s.share, s.p50, s.p99]) for (const arr of m.values()) arr.shift();
      }
      if (s.charts) {
        s.charts[0].setData(shareData(s));
        s.charts[1].setData(latencyData(s));
      }
      for (const e of st.endpoints) renderCard(s, e.endpoint);
    }
  }

  function addEvent(e) {
    const list = document.getElementById('events');
    const time = stamp(e.at);
    const li = el(
      'li',
      { class: `ev-${e.event}`, 'data-event': e.event, ...(e.endpoint ? { 'data-endpoint': e.endpoint } : {}) },
      el('time', {}, time),
      el('span', { class: 'name' }, e.event),
      ' ',
      el('span', { class: 'where' }, `${e.service}${e.endpoint ? ` ${e.endpoint}` : ''}`),
      ...(e.reason ? [el('div', { class: 'muted' }, e.reason)] : []),
    );
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  let statePoll;
  function connect() {
    const source = new EventSource(`api/events${q}`);
    const conn = document.getElementById('conn');
    source.addEventListener('open', () => {
      conn.textContent = 'live';
      conn.className = 'conn up';
    });
    source.addEventListener('error', () => {
      // EventSource reconnects by itself (the server sent `retry:`); say so meanwhile.
      conn.textContent = 'reconnecting…';
      conn.className = 'conn down';
    });
    source.addEventListener('snapshot', (m) => {
      const snap = JSON.parse(m.data);
      document.getElementById('title').textContent = snap.title;
      document.title = `${snap.title} dashboard`;
      document.getElementById('events').replaceChildren();
      for (const e of snap.events) addEvent(e);
      // Start over from the snapshot: a restarted process has other endpoints and counters.
      for (const s of services.values()) {
        if (s.charts) for (const c of s.charts) c.destroy();
        s.root.remove();
      }
      services.clear();
      applyState(snap.state);
      for (const t of snap.ticks || []) applyTick(t);
    });
    source.addEventListener('event', (m) => addEvent(JSON.parse(m.data)));
    source.addEventListener('tick', (m) => applyTick(JSON.parse(m.data)));
    clearInterval(statePoll);
    statePoll = setInterval(() => {
      fetch(`api/state${q}`)
        .then((r) => (r.ok ? r.json() : null))
        .then((state) => state && applyState(state))
        .catch(() => undefined);
    }, 2000);
  }
  connect();
  window.addEventListener('resize', () => services.forEach((s) => rebuildCharts(s)));
})();
