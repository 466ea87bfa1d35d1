/* The operator console: the fleet, one proxy, and operators' actions, over the API of this origin.
 *
 * No build step and no library: the DOM is built with textContent (nothing the API returns is ever
 * parsed as HTML), charts are small SVGs. The token stays in sessionStorage (this tab, this
 * session); every call carries it. Views refresh every few seconds and re-render a section only when
 * its data changed (the fleet's pages by ETag), so nothing flickers.
 */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var PAGE_SIZE = 25;
  var config = JSON.parse(document.querySelector('meta[name="console-config"]').content);
  var state = {
    token: null,
    claims: null,
    admin: false,
    etags: {},
    rendered: {},
    fleet: { search: "", degradedFirst: false, page: 0, data: null },
    timer: null,
    generation: 0,
  };
  var main = document.getElementById("main");

  // ---- building the page ----------------------------------------------------------------------

  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = String(value);
      else if (name === "onclick") node.addEventListener("click", value);
      else if (name === "oninput") node.addEventListener("input", value);
      else if (name === "onchange") node.addEventListener("change", value);
      else if (name === "onsubmit") node.addEventListener("submit", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(node, c); });
    else node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }

  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  function replace(node, child) {
    while (node.firstChild) node.removeChild(node.firstChild);
    append(node, child);
  }

  /** Where the keyboard focus is, as a key that names the same control after a re-render. */
  function focusKey(node) {
    var el = document.activeElement;
    if (!el || el === document.body || !node.contains(el)) return null;
    var row = el.closest("[data-instance], [data-proxy]");
    return [el.id, el.getAttribute("data-action"), el.getAttribute("href"),
      row ? row.getAttribute("data-instance") || row.getAttribute("data-proxy") : ""].join("|");
  }

  function refocus(node, key) {
    if (!key) return;
    var found = Array.prototype.filter.call(node.querySelectorAll("a, button, input, select"), function (el) {
      var row = el.closest("[data-instance], [data-proxy]");
      return [el.id, el.getAttribute("data-action"), el.getAttribute("href"),
        row ? row.getAttribute("data-instance") || row.getAttribute("data-proxy") : ""].join("|") === key;
    })[0];
    if (found) found.focus();
  }

  /** Re-render a section only when what it shows changed: no flicker, and the keyboard's focus stays
   * on the same control. */
  function update(key, node, data, render) {
    var signature = JSON.stringify(data);
    if (state.rendered[key] === signature && node.firstChild) return;
    state.rendered[key] = signature;
    var focused = focusKey(node);
    replace(node, render(data));
    refocus(node, focused);
  }

  function badge(kind, text) { return h("span", { "class": "badge " + kind, text: text }); }

  function statusBadge(status) {
    return badge(status === "healthy" ? "healthy" : status === "unhealthy" ? "unhealthy" : "unknown", status);
  }

  function postureBadge(p) {
    if (p.totalInstances === 0) return badge("none", "no instances");
    if (p.isDegraded) return badge("bad", "degraded");
    return badge("ok", "healthy");
  }

  function ago(iso) {
    if (!iso) return "never";
    var seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 0) return "in " + duration(-seconds);
    return duration(seconds) + " ago";
  }

  function duration(seconds) {
    if (seconds < 90) return seconds + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function time(iso) {
    if (!iso) return h("span", { "class": "muted", text: "—" });
    return h("time", { datetime: iso, title: new Date(iso).toLocaleString(), text: ago(iso) });
  }

  // ---- errors, shown as the API's envelope says ----------------------------------------------------

  function showError(message) {
    document.getElementById("error-text").textContent = message;
    document.getElementById("error").hidden = false;
  }

  function clearError() { document.getElementById("error").hidden = true; }

  function ApiError(message, status, code) { this.message = message; this.status = status; this.code = code; }

  // ---- the token ---------------------------------------------------------------------------------

  function claimsOf(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      var json = decodeURIComponent(Array.prototype.map.call(atob(part), function (c) {
        return "%" + ("00" + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(""));
      return JSON.parse(json);
    } catch (e) { return null; }
  }

  function isAdmin(claims) {
    var groups = claims ? claims[config.adminClaim] : null;
    if (typeof groups === "string") groups = groups.replace(/^\[|\]$/g, "").split(/[\s,]+/);
    return Array.isArray(groups) && groups.indexOf(config.adminGroup) >= 0;
  }

  function takeTokenFromFragment() {
    var found = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (found) {
      sessionStorage.setItem("console-token", decodeURIComponent(found[1]));
      history.replaceState(null, "", location.pathname + location.search + "#/");
    }
  }

  function signIn(token) {
    token = (token || "").trim().replace(/^Bearer\s+/i, "");
    var claims = claimsOf(token);
    if (!claims) { showError("That is not a JWT (three base64url parts)."); return false; }
    sessionStorage.setItem("console-token", token);
    start();
    return true;
  }

  function signOut(message) {
    sessionStorage.removeItem("console-token");
    state.token = null;
    stopRefresh();
    renderSignIn(message);
  }

  // ---- the API -----------------------------------------------------------------------------------

  function api(method, path, body, tagKey) {
    var token = state.token;
    var headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var tagged = tagKey ? state.etags[tagKey] : null;
    if (tagged) headers["If-None-Match"] = tagged.etag;
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(path, init).then(function (response) {
      if (response.status === 304 && tagged) return { body: tagged.body, fresh: false };
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        if (!response.ok) {
          var error = parsed && parsed.error;
          var message = error && error.message ? error.message : "HTTP " + response.status;
          // a late answer to a token already replaced signs nobody out
          if (response.status === 401 && state.token === token) signOut("Signed out: " + message);
          throw new ApiError(message, response.status, error && error.code);
        }
        var etag = response.headers.get("ETag");
        if (tagKey && etag) state.etags[tagKey] = { etag: etag, body: parsed };
        return { body: parsed, fresh: true };
      });
    }, function (failure) {
      throw new ApiError("The API could not be reached (" + failure.message + ")", 0);
    });
  }

  function enc(value) { return encodeURIComponent(value); }

  // ---- refresh -----------------------------------------------------------------------------------

  function stopRefresh() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  function schedule(load) {
    stopRefresh();
    var generation = state.generation;
    state.timer = setTimeout(function () {
      if (generation !== state.generation || !state.token) return;
      load().then(function () { schedule(load); }, function (error) {
        if (error instanceof ApiError && error.status !== 401) showError(error.message);
        if (state.token) schedule(load);
      });
    }, REFRESH_MS);
  }

  function route() {
    state.generation++;
    state.rendered = {};
    stopRefresh();
    clearError();
    if (!state.token) return renderSignIn();
    var hash = location.hash.replace(/^#/, "");
    var proxy = /^\/proxy\/(.+)$/.exec(hash);
    var load = proxy ? proxyView(decodeURIComponent(proxy[1])) : fleetView();
    load().then(function () { schedule(load); }, function (error) {
      showError(error.message || String(error));
      schedule(load);
    });
  }

  // ---- the emergency brake, on every view ----------------------------------------------------------

  function loadSafety() {
    return api("GET", "/fleet/safety").then(function (r) {
      var s = r.body.data;
      var node = document.getElementById("safety");
      update("safety", node, s, function (s) {
        var parts = [];
        if (s.autoFailover === "held") parts.push(badge("bad", "automatic failover held: " + (s.reason || "")));
        if (s.checksSuspended) parts.push(badge("bad", "checks suspended: no vantage can see"));
        (s.vantages || []).forEach(function (v) {
          if (v.impaired) parts.push(badge("warn", "vantage " + v.name + " impaired"));
          else if (v.absent) parts.push(badge("warn", "vantage " + v.name + " absent"));
        });
        if (!parts.length) parts.push(badge("ok", "automatic failover on"));
        return parts;
      });
    });
  }

  // ---- the fleet ---------------------------------------------------------------------------------

  function fleetView() {
    var f = state.fleet;
    var counts = h("div", { "class": "counts", id: "counts" });
    var search = h("input", {
      type: "search", id: "search", placeholder: "proxy id, owner or instance", value: f.search,
      "aria-label": "Search proxies",
      oninput: function (e) { f.search = e.target.value; f.page = 0; renderTable(); },
    });
    var degradedFirst = h("input", {
      type: "checkbox", id: "degraded-first", checked: f.degradedFirst,
      onchange: function (e) { f.degradedFirst = e.target.checked; f.page = 0; renderTable(); },
    });
    var tableHolder = h("div", { id: "fleet-table" });
    var pager = h("div", { "class": "pager", id: "pager" });
    replace(main, [
      h("h1", { text: "Fleet" }),
      counts,
      h("section", { "class": "panel" },
        h("div", { "class": "tools" },
          h("label", { "class": "search", "for": "search" }, "Search ", search),
          h("label", { "for": "degraded-first" }, degradedFirst, "Degraded first")),
        tableHolder,
        pager),
      h("section", { "class": "panel" }, h("h2", { text: "Failovers in the last hour" }), h("div", { id: "recent" })),
    ]);

    function renderTable() {
      if (!f.data) return;
      var rows = f.data.proxies.slice();
      var q = f.search.trim().toLowerCase();
      if (q) {
        rows = rows.filter(function (p) {
          return p.proxyId.toLowerCase().indexOf(q) >= 0 || (p.userId || "").toLowerCase().indexOf(q) >= 0 ||
            (p.activeInstanceName || "").toLowerCase().indexOf(q) >= 0;
        });
      }
      if (f.degradedFirst) {
        rows.sort(function (a, b) { return (b.isDegraded ? 1 : 0) - (a.isDegraded ? 1 : 0); });
      }
      var pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
      f.page = Math.min(f.page, pages - 1);
      var shown = rows.slice(f.page * PAGE_SIZE, (f.page + 1) * PAGE_SIZE);
      update("fleet-table", tableHolder, shown, function (shown) {
        if (!shown.length) return h("p", { "class": "muted", text: f.data.proxies.length ? "No proxy matches." : "No proxies yet." });
        return h("div", { "class": "table-wrap" }, h("table", { id: "proxies" },
          h("thead", {}, h("tr", {},
            h("th", { text: "Proxy" }), h("th", { text: "Posture" }), h("th", { text: "Active instance" }),
            h("th", { text: "Healthy" }), h("th", { "class": "wide", text: "Maintenance" }),
            h("th", { "class": "wide", text: "Redundancy" }), h("th", { "class": "wide", text: "Strategy" }),
            h("th", { "class": "wide", text: "Last failover" }))),
          h("tbody", {}, shown.map(function (p) {
            return h("tr", { "class": p.isDegraded ? "degraded" : null, "data-proxy": p.proxyId },
              h("td", {}, h("a", { href: "#/proxy/" + enc(p.proxyId), text: p.proxyId }),
                config.tenantClaim !== "sub" || state.admin ? h("div", { "class": "muted", text: p.userId }) : null),
              h("td", {}, postureBadge(p), p.degradedReasons.length ? h("div", { "class": "muted", text: p.degradedReasons.join(", ") }) : null),
              h("td", { text: p.activeInstanceName || "—" }),
              h("td", { text: p.healthyInstances + " / " + p.totalInstances }),
              h("td", { "class": "wide", text: p.instancesInMaintenance ? String(p.instancesInMaintenance) : "—" }),
              h("td", { "class": "wide", text: p.redundancyLevel }),
              h("td", { "class": "wide", text: p.strategy }),
              h("td", { "class": "wide", title: p.lastFailoverReason || "" }, time(p.lastFailoverAt)));
          }))));
      });
      update("pager", pager, [f.page, pages, rows.length], function () {
        var first = rows.length ? f.page * PAGE_SIZE + 1 : 0;
        return [
          h("button", { type: "button", "class": "quiet", disabled: f.page === 0, onclick: function () { f.page--; renderTable(); }, text: "Previous" }),
          h("span", { "class": "muted", text: first + "–" + Math.min(rows.length, (f.page + 1) * PAGE_SIZE) + " of " + rows.length }),
          h("button", { type: "button", "class": "quiet", disabled: f.page >= pages - 1, onclick: function () { f.page++; renderTable(); }, text: "Next" }),
        ];
      });
    }

    function load() {
      var since = new Date(Date.now() - 3600 * 1000).toISOString();
      return Promise.all([
        loadAllProxies(),
        api("GET", "/proxy/failover/events?type=failover&limit=500&since=" + enc(since)),
        loadSafety(),
      ]).then(function (results) {
        f.data = { proxies: results[0], failovers: results[1].body.data };
        var proxies = f.data.proxies;
        var summary = {
          proxies: proxies.length,
          degraded: proxies.filter(function (p) { return p.isDegraded; }).length,
          maintenance: proxies.reduce(function (n, p) { return n + p.instancesInMaintenance; }, 0),
          failovers: f.data.failovers.length,
        };
        update("counts", counts, summary, function (s) {
          return [
            count("Proxies", s.proxies, false),
            count("Degraded", s.degraded, s.degraded > 0),
            count("Instances in maintenance", s.maintenance, false),
            count("Failovers, last hour", s.failovers, s.failovers > 0),
          ];
        });
        renderTable();
        update("recent", document.getElementById("recent"), f.data.failovers.slice(0, 20), ledgerTable);
      });
    }
    return load;
  }

  function count(label, n, alert) {
    return h("div", { "class": "count" + (alert ? " alert" : "") }, h("span", { "class": "n", text: n }), h("span", { "class": "l", text: label }));
  }

  /** Every page of the fleet, 500 at a time; a page whose ETag still holds costs a 304. */
  function loadAllProxies() {
    var all = [];
    function page(cursor, n) {
      var path = "/proxies?limit=500" + (cursor ? "&cursor=" + enc(cursor) : "");
      return api("GET", path, undefined, "fleet:" + n + ":" + (cursor || "")).then(function (r) {
        all = all.concat(r.body.data);
        return r.body.nextCursor && n < 40 ? page(r.body.nextCursor, n + 1) : all;
      });
    }
    return page(null, 0);
  }

  function ledgerTable(events) {
    if (!events.length) return h("p", { "class": "muted", text: "None." });
    return h("div", { "class": "table-wrap" }, h("table", { "class": "ledger" },
      h("thead", {}, h("tr", {}, h("th", { text: "When" }), h("th", { text: "Proxy" }), h("th", { text: "Type" }),
        h("th", { text: "Status" }), h("th", { "class": "wide", text: "By" }), h("th", { text: "Reason" }))),
      h("tbody", {}, events.map(function (e) {
        return h("tr", {},
          h("td", {}, time(e.startedAt)),
          h("td", {}, h("a", { href: "#/proxy/" + enc(e.proxyId), text: e.proxyId })),
          h("td", { text: e.eventType }),
          h("td", {}, badge(e.status === "completed" ? "ok" : e.status === "failed" ? "bad" : "warn", e.status)),
          h("td", { "class": "wide", text: e.actor }),
          h("td", { text: e.reason + (e.errorMessage ? " — " + e.errorMessage : "") }));
      }))));
  }

  // ---- one proxy ---------------------------------------------------------------------------------

  function proxyView(proxyId) {
    var p = "/proxy/" + enc(proxyId);
    var sections = {
      summary: h("div", { id: "proxy-summary" }),
      actions: h("div", { "class": "actions", id: "proxy-actions" }),
      instances: h("div", { id: "instances" }),
      timeline: h("div", { id: "timeline" }),
      route: h("div", { id: "route" }),
      ledger: h("div", { id: "ledger" }),
      config: h("div", { id: "config" }),
      history: h("div", { id: "config-history" }),
    };
    replace(main, [
      h("p", {}, h("a", { href: "#/", text: "← Fleet" })),
      h("h1", { text: proxyId }),
      h("div", { id: "notice", "class": "notice", role: "status", hidden: true }),
      h("section", { "class": "panel" }, sections.summary, sections.actions),
      h("section", { "class": "panel" }, h("h2", { text: "Instances" }), sections.instances),
      h("section", { "class": "panel" }, h("h2", { text: "Recent checks" }), sections.timeline),
      h("div", { "class": "grid2" },
        h("section", { "class": "panel" }, h("h2", { text: "Routing answer" }), sections.route),
        h("section", { "class": "panel" }, h("h2", { text: "Configuration" }), sections.config)),
      h("section", { "class": "panel" }, h("h2", { text: "Ledger" }), sections.ledger),
      h("section", { "class": "panel" }, h("h2", { text: "Configuration history" }), sections.history),
    ]);
    var current = { instances: [] };

    function optional(promise) {
      return promise.then(function (r) { return r.body.data; }, function (error) {
        if (error.status === 404) return null;
        throw error;
      });
    }

    function load() {
      return Promise.all([
        api("GET", p + "/instances?limit=500").then(function (r) { return r.body.data; }),
        optional(api("GET", p + "/redundancy")),
        optional(api("GET", p + "/route")),
        api("GET", p + "/failover/events?limit=20").then(function (r) { return r.body.data; }),
        optional(api("GET", "/proxy/failover/config/" + enc(proxyId))),
        optional(api("GET", "/proxy/failover/config/" + enc(proxyId) + "/history?limit=10")),
        loadSafety(),
      ]).then(function (r) {
        current = { instances: r[0], redundancy: r[1], route: r[2], events: r[3], config: r[4], history: r[5] };
        update("summary", sections.summary, current.redundancy, renderSummary);
        var roles = current.instances.map(function (i) { return [i.id, i.instanceName, i.isActive, i.healthStatus]; });
        update("actions", sections.actions, [roles, state.admin], function () { return renderActions(proxyId, current); });
        update("instances", sections.instances, current.instances, function (list) { return renderInstances(list); });
        update("route", sections.route, current.route, renderRoute);
        update("ledger", sections.ledger, current.events, ledgerTable);
        update("config", sections.config, current.config, renderConfig);
        update("history", sections.history, current.history, renderHistory);
        return Promise.all(current.instances.map(function (i) {
          return api("GET", "/proxy/instances/" + enc(i.id) + "/checks?limit=100").then(function (c) {
            return { instance: i, checks: c.body.data };
          });
        }));
      }).then(function (timelines) {
        update("timeline", sections.timeline, timelines, function (list) {
          if (!list.length) return h("p", { "class": "muted", text: "No instances." });
          return list.map(renderTimeline);
        });
      });
    }

    function renderSummary(r) {
      if (!r) return h("p", { "class": "muted", text: "No instances yet: no posture." });
      return h("dl", { "class": "kv" },
        h("dt", { text: "Posture" }), h("dd", {}, r.isDegraded ? badge("bad", "degraded") : badge("ok", "healthy"),
          r.degradedReasons.length ? " " + r.degradedReasons.join(", ") : ""),
        h("dt", { text: "Redundancy" }), h("dd", { text: r.redundancyLevel + " (" + r.healthyInstances + " of " + r.totalInstances + " healthy)" }),
        h("dt", { text: "Last failover" }), h("dd", {}, time(r.lastFailoverAt), r.lastFailoverReason ? " — " + r.lastFailoverReason : ""));
    }

    function renderInstances(list) {
      if (!list.length) return h("p", { "class": "muted", text: "No instances registered." });
      return h("div", { "class": "table-wrap" }, h("table", { id: "instance-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "Instance" }), h("th", { text: "Status" }),
          h("th", { "class": "wide", text: "Per vantage" }), h("th", { text: "Priority / weight" }),
          h("th", { "class": "wide", text: "Latency" }), h("th", { text: "Maintenance" }), h("th", { text: "Actions" }))),
        h("tbody", {}, list.map(function (i) {
          return h("tr", { "data-instance": i.instanceName },
            h("td", {}, h("strong", { text: i.instanceName }), i.isActive ? [" ", badge("ok", "active")] : null,
              h("div", { "class": "muted", text: i.endpoint || i.healthCheckUrl || "" })),
            h("td", {}, statusBadge(i.healthStatus), i.isFlapping ? [" ", badge("warn", "flapping")] : null,
              i.needsAttention ? [" ", badge("bad", "needs attention")] : null),
            h("td", { "class": "wide" }, (i.vantages || []).length ? i.vantages.map(function (v) {
              return h("div", {}, v.name + " ", statusBadge(v.status));
            }) : h("span", { "class": "muted", text: "—" })),
            h("td", { text: i.priority + " / " + i.weight }),
            h("td", { "class": "wide", text: i.lastLatencyMs === null ? "—" : Math.round(i.lastLatencyMs) + " ms" }),
            h("td", {}, i.maintenance ? [badge("warn", "until " + new Date(i.maintenance.until).toLocaleString()),
              h("div", { "class": "muted", text: i.maintenance.reason + " (" + i.maintenance.startedBy + ")" })] : h("span", { "class": "muted", text: "—" })),
            h("td", {}, i.maintenance
              ? h("button", { type: "button", "class": "quiet", "data-action": "end-maintenance", onclick: function () { endMaintenance(i); }, text: "End maintenance" })
              : h("button", { type: "button", "class": "quiet", "data-action": "start-maintenance", onclick: function () { startMaintenance(i, list); }, text: "Start maintenance" })));
        }))));
    }

    function done(message) {
      var notice = document.getElementById("notice");
      notice.textContent = message;
      notice.hidden = false;
      clearError();
      state.rendered = {};
      return load();
    }

    function failed(error) { showError(error.message || String(error)); }

    function startMaintenance(i, list) {
      var others = list.filter(function (o) { return o.id !== i.id && o.healthStatus === "healthy" && !o.maintenance; });
      var what = i.isActive
        ? "Instance " + i.instanceName + " is the active one: the proxy moves to the best other healthy instance first" +
          (others.length ? "." : " — there is none, so it stays on this one only if you force it.")
        : "Instance " + i.instanceName + " takes no traffic and is not failed over to until maintenance ends.";
      confirmAction("Start maintenance on " + i.instanceName, what + " Automatic failover ignores it meanwhile.", [
        field("minutes", "Duration (minutes)", "number", "60", { min: 1, max: 10080, required: true }),
        field("reason", "Reason", "text", "", { required: true, maxlength: 500 }),
        i.isActive && !others.length ? field("force", "Keep it active although no other instance can take over", "checkbox") : null,
      ], "Start maintenance").then(function (values) {
        if (!values) return;
        var body = { durationSeconds: Math.round(Number(values.minutes) * 60), reason: values.reason };
        if (values.force) body.force = true;
        return api("PUT", "/proxy/instances/" + enc(i.id) + "/maintenance", body)
          .then(function () { return done("Maintenance started on " + i.instanceName + "."); });
      }).catch(failed);
    }

    function endMaintenance(i) {
      confirmAction("End maintenance on " + i.instanceName,
        "Instance " + i.instanceName + " is checked and may take traffic again; the proxy fails back to it if its strategy says so.",
        [], "End maintenance").then(function (values) {
        if (!values) return;
        return api("DELETE", "/proxy/instances/" + enc(i.id) + "/maintenance")
          .then(function () { return done("Maintenance ended on " + i.instanceName + "."); });
      }).catch(failed);
    }

    return load;
  }

  function renderActions(proxyId, current) {
    var active = current.instances.filter(function (i) { return i.isActive; })[0];
    var others = current.instances.filter(function (i) { return !i.isActive; });
    var buttons = [h("button", { type: "button", "class": "quiet", "data-action": "evaluate", onclick: function () { evaluate(proxyId); }, text: "Evaluate (dry run)" })];
    if (state.admin && active && others.length) {
      buttons.push(h("button", { type: "button", "class": "quiet", "data-action": "dry-run", onclick: function () { execute(proxyId, active, others, true); }, text: "Dry run of a failover" }));
      buttons.push(h("button", { type: "button", "class": "quiet", "data-action": "drill", onclick: function () { drill(proxyId, others); }, text: "Start a drill" }));
      buttons.push(h("button", { type: "button", "class": "danger", "data-action": "execute", onclick: function () { execute(proxyId, active, others, false); }, text: "Fail over now" }));
    }
    return buttons;
  }

  function say(message) {
    var notice = document.getElementById("notice");
    if (notice) { notice.textContent = message; notice.hidden = false; }
    clearError();
  }

  function evaluate(proxyId) {
    confirmAction("Evaluate " + proxyId, "Asks whether the proxy should fail over now, as the scheduled run would decide. Nothing changes.", [], "Evaluate")
      .then(function (values) {
        if (!values) return;
        return api("POST", "/proxy/failover/evaluate", { proxyId: proxyId }).then(function (r) {
          var d = r.body.data;
          say(d.shouldFailover ? "It should fail over (" + d.reason + ")." : "No failover needed (" + d.reason + ").");
        });
      }).catch(function (e) { showError(e.message); });
  }

  function targetField(others) {
    var select = h("select", { id: "field-target", name: "target", required: true },
      others.map(function (o) { return h("option", { value: o.id, text: o.instanceName + " (" + o.healthStatus + ")" }); }));
    return h("div", {}, h("label", { "for": "field-target", text: "Target instance" }), select);
  }

  function execute(proxyId, active, others, dryRun) {
    var title = dryRun ? "Dry run of a failover of " + proxyId : "Fail over " + proxyId + " now";
    var what = dryRun
      ? "Checks a switch from " + active.instanceName + " under the proxy's lock, as a real one would; nothing is changed or published."
      : "Moves the proxy's traffic off " + active.instanceName + " at once. A manual failover is written to the ledger and subscribers are told.";
    confirmAction(title, what, [targetField(others), field("reason", "Reason", "text", dryRun ? "dry run from the console" : "", { required: true, maxlength: 2000 })],
      dryRun ? "Dry run" : "Fail over").then(function (values) {
      if (!values) return;
      var body = { proxyId: proxyId, sourceInstanceId: active.id, targetInstanceId: values.target, reason: values.reason, dryRun: dryRun };
      return api("POST", "/proxy/failover/execute", body).then(function (r) {
        say(dryRun ? "The failover would succeed: " + (r.body.message || "nothing changed.") : "Failed over.");
        state.rendered = {};
      });
    }).catch(function (e) { showError(e.message); });
  }

  function drill(proxyId, others) {
    confirmAction("Start a drill on " + proxyId,
      "A real switch to the target, marked as a drill; the scheduled run switches back when its time is up.",
      [targetField(others), field("minutes", "Duration (minutes)", "number", "5", { min: 1, max: 60, required: true }),
        field("reason", "Reason", "text", "game day", { required: true, maxlength: 500 })], "Start the drill")
      .then(function (values) {
        if (!values) return;
        var body = { proxyId: proxyId, targetInstanceId: values.target, durationSeconds: Math.round(Number(values.minutes) * 60), reason: values.reason };
        return api("POST", "/proxy/failover/drill", body).then(function () { say("Drill started."); state.rendered = {}; });
      }).catch(function (e) { showError(e.message); });
  }

  function renderRoute(r) {
    if (!r) return h("p", { "class": "muted", text: "No routing answer yet." });
    return [
      h("dl", { "class": "kv" },
        h("dt", { text: "Endpoint" }), h("dd", { text: r.endpoint || "—" }),
        h("dt", { text: "Algorithm" }), h("dd", { text: r.algorithm || "active instance only" }),
        h("dt", { text: "Degraded" }), h("dd", { text: r.degraded ? "yes" : "no" }),
        r.version !== undefined ? [h("dt", { text: "Version" }), h("dd", { text: String(r.version) })] : null),
      r.targets.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Target" }), h("th", { text: "Share" }))),
        h("tbody", {}, r.targets.map(function (t) {
          return h("tr", {}, h("td", { text: t.endpoint || t.instanceId }), h("td", { text: Math.round(t.share * 1000) / 10 + " %" }));
        }))) : null,
    ];
  }

  function renderConfig(c) {
    if (!c) return h("p", { "class": "muted", text: "No stored configuration: the defaults apply." });
    var skip = { proxyId: 1, createdAt: 1, updatedAt: 1 };
    return h("dl", { "class": "kv" }, Object.keys(c).filter(function (k) { return !skip[k]; }).map(function (k) {
      return [h("dt", { text: k }), h("dd", { text: c[k] === null ? "—" : String(c[k]) })];
    }));
  }

  function renderHistory(versions) {
    if (!versions || !versions.length) return h("p", { "class": "muted", text: "No versions." });
    return h("div", { "class": "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { text: "Version" }), h("th", { text: "When" }), h("th", { text: "By" }), h("th", { text: "Changes" }))),
      h("tbody", {}, versions.map(function (v) {
        return h("tr", {}, h("td", { text: String(v.version) }), h("td", {}, time(v.changedAt)), h("td", { text: v.changedBy }),
          h("td", { text: Object.keys(v.changes).map(function (k) {
            return k + ": " + v.changes[k].from + " → " + v.changes[k].to;
          }).join("; ") }));
      }))));
  }

  /** A latency chart of an instance's recent checks, oldest left; failed checks are red marks. */
  function renderTimeline(item) {
    var checks = item.checks.slice().reverse();
    var width = 1000, height = 150, left = 40, bottom = 18;
    var failed = checks.filter(function (c) { return c.result !== "healthy"; }).length;
    var title = h("h3", {}, item.instance.instanceName + " ", h("span", { "class": "muted", text: checks.length + " checks, " + failed + " failed" }));
    if (!checks.length) return h("div", { "class": "timeline" }, title, h("p", { "class": "muted", text: "No checks yet." }));
    var first = Date.parse(checks[0].checkedAt), last = Date.parse(checks[checks.length - 1].checkedAt);
    // the scale of the answers that came: a failure is a full-height mark whatever it took
    var top = Math.max(1, Math.max.apply(null, checks.map(function (c) { return c.result === "healthy" ? c.latencyMs || 0 : 0; })));
    var position = new Map(checks.map(function (c, k) { return [c, k]; }));
    // one step per check, oldest left: a burst of checks is as readable as a quiet hour
    function x(c) { return left + (width - left - 8) * (checks.length === 1 ? 0.5 : position.get(c) / (checks.length - 1)); }
    function y(ms) { return 4 + (height - bottom - 8) * (1 - (ms || 0) / top); }
    var chart = svg("svg", { "class": "chart", viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": item.instance.instanceName + ": latency of the last " + checks.length + " checks, " + failed + " failed" });
    chart.appendChild(svg("line", { "class": "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
    chart.appendChild(svg("text", { x: 2, y: 12, text: Math.round(top) + " ms" }));
    chart.appendChild(svg("text", { x: 2, y: height - bottom, text: "0" }));
    chart.appendChild(svg("text", { x: left, y: height - 2, text: new Date(first).toLocaleTimeString() }));
    chart.appendChild(svg("text", { x: width - 4, y: height - 2, "text-anchor": "end", text: new Date(last).toLocaleTimeString() }));
    var points = checks.filter(function (c) { return c.latencyMs !== null && c.result === "healthy"; })
      .map(function (c) { return x(c).toFixed(1) + "," + y(c.latencyMs).toFixed(1); });
    if (points.length > 1) chart.appendChild(svg("polyline", { "class": "line", points: points.join(" ") }));
    checks.forEach(function (c) {
      if (c.result === "healthy") {
        if (c.latencyMs !== null) chart.appendChild(svg("circle", { "class": "ok", cx: x(c), cy: y(c.latencyMs), r: 2 }, svg("title", { text: c.checkedAt + " " + Math.round(c.latencyMs) + " ms" })));
      } else {
        chart.appendChild(svg("line", { "class": "fail", x1: x(c), y1: 4, x2: x(c), y2: height - bottom },
          svg("title", { text: c.checkedAt + " " + c.result + (c.vantage ? " from " + c.vantage : " (report)") + (c.reason ? ": " + c.reason : "") })));
      }
    });
    var latest = item.checks[0];
    return h("div", { "class": "timeline" }, title, chart,
      h("p", { "class": "muted" }, "Latest: ", latest.result, latest.vantage ? " from " + latest.vantage : " (report)",
        latest.reason ? " — " + latest.reason : "", ", ", time(latest.checkedAt)));
  }

  // ---- confirmations -----------------------------------------------------------------------------

  function field(name, label, type, value, attrs) {
    var id = "field-" + name;
    var input = h("input", Object.assign({ id: id, name: name, type: type }, type === "checkbox" ? {} : { value: value || "" }, attrs || {}));
    if (type === "checkbox") return h("div", {}, h("label", { "for": id }, input, " " + label));
    return h("div", {}, h("label", { "for": id, text: label }), input);
  }

  /** Says what will happen and asks; resolves with the fields' values, or null when cancelled. */
  function confirmAction(title, text, fields, okLabel) {
    var dialog = document.getElementById("confirm");
    var form = document.getElementById("confirm-form");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    replace(document.getElementById("confirm-fields"), fields);
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      function closed() {
        dialog.removeEventListener("close", closed);
        if (dialog.returnValue !== "ok") return resolve(null);
        var values = {};
        Array.prototype.forEach.call(form.elements, function (el) {
          if (!el.name) return;
          values[el.name] = el.type === "checkbox" ? el.checked : el.value;
        });
        resolve(values);
      }
      dialog.addEventListener("close", closed);
      dialog.showModal();
      var first = form.querySelector("#confirm-fields input, #confirm-fields select");
      (first || document.getElementById("confirm-ok")).focus();
    });
  }

  // ---- signing in --------------------------------------------------------------------------------

  function renderSignIn(message) {
    document.getElementById("sign-out").hidden = true;
    document.getElementById("who").textContent = "";
    document.getElementById("safety").textContent = "";
    var area = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help" });
    replace(main, h("section", { "class": "panel signin" },
      h("h1", { text: "Sign in" }),
      message ? h("p", { role: "alert", text: message }) : null,
      h("form", { id: "signin", onsubmit: function (e) { e.preventDefault(); signIn(area.value); } },
        h("label", { "for": "token", text: "Bearer token" }), area,
        h("p", { id: "token-help", text: "Kept for this browser tab's session only. Locally, `make run` prints a link that signs you in." }),
        h("button", { type: "submit", text: "Sign in" })),
      config.cognitoDomain && config.cognitoClientId
        ? h("p", {}, h("button", { type: "button", "class": "quiet", id: "cognito", onclick: cognitoSignIn, text: "Sign in with your organisation" }))
        : null));
    area.focus();
  }

  // The Cognito hosted UI, authorization code with PKCE: no secret in the page.
  function base64url(bytes) {
    return btoa(String.fromCharCode.apply(null, new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function redirectUri() { return location.origin + location.pathname; }

  function cognitoSignIn() {
    var verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    var stateValue = base64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem("console-pkce", JSON.stringify({ verifier: verifier, state: stateValue }));
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      location.assign(config.cognitoDomain.replace(/\/$/, "") + "/oauth2/authorize?response_type=code" +
        "&client_id=" + enc(config.cognitoClientId) + "&redirect_uri=" + enc(redirectUri()) +
        "&scope=openid&state=" + stateValue + "&code_challenge_method=S256&code_challenge=" + base64url(digest));
    });
  }

  function finishCognitoSignIn() {
    var params = new URLSearchParams(location.search);
    var code = params.get("code");
    var pending = JSON.parse(sessionStorage.getItem("console-pkce") || "null");
    if (!code || !pending) return Promise.resolve();
    sessionStorage.removeItem("console-pkce");
    history.replaceState(null, "", location.pathname + "#/");
    if (params.get("state") !== pending.state) { showError("Sign-in was not started here (state mismatch)."); return Promise.resolve(); }
    var form = new URLSearchParams({ grant_type: "authorization_code", client_id: config.cognitoClientId, code: code,
      redirect_uri: redirectUri(), code_verifier: pending.verifier });
    return fetch(config.cognitoDomain.replace(/\/$/, "") + "/oauth2/token", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString(),
    }).then(function (r) { return r.json(); }).then(function (tokens) {
      if (tokens.access_token) sessionStorage.setItem("console-token", tokens.access_token);
      else showError("Sign-in failed: " + (tokens.error || "no token"));
    }, function (e) { showError("Sign-in failed: " + e.message); });
  }

  // ---- start -------------------------------------------------------------------------------------

  function start() {
    state.token = sessionStorage.getItem("console-token");
    state.claims = state.token ? claimsOf(state.token) : null;
    state.admin = isAdmin(state.claims);
    state.etags = {};
    if (state.token) {
      var who = (state.claims && state.claims.sub) || "signed in";
      if (config.tenantClaim !== "sub" && state.claims && state.claims[config.tenantClaim]) who += " · " + state.claims[config.tenantClaim];
      document.getElementById("who").textContent = who + (state.admin ? " (admin)" : "");
      document.getElementById("sign-out").hidden = false;
      if (!/^#\//.test(location.hash)) history.replaceState(null, "", location.pathname + "#/");
    }
    route();
  }

  document.getElementById("sign-out").addEventListener("click", function () { signOut("Signed out."); });
  document.getElementById("error-close").addEventListener("click", clearError);
  window.addEventListener("hashchange", function () {
    if (/token=/.test(location.hash)) { takeTokenFromFragment(); start(); } else route();
  });
  takeTokenFromFragment();
  finishCognitoSignIn().then(start);
})();
